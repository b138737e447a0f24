"""sktimbre: learn two instruments' timbres from unpaired recordings and render
music in a voice that blends them, with scikit-learn estimators over PyTorch."""

from ._spectrogram import Spectrogram, SpectrogramTransformer
from ._vae import TimbreVAE
from ._version import __version__

__all__ = [
    "Spectrogram",
    "SpectrogramTransformer",
    "TimbreVAE",
    "__version__",
]
