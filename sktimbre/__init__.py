"""sktimbre: learn two instruments' timbres from unpaired recordings and render
music in a voice that blends them, with scikit-learn estimators over PyTorch."""

from ._baselines import MatchEQ
from ._convert import convert
from ._cyclegan import TimbreCycleGAN
from ._export import export_torchscript
from ._realtime import Streamer
from ._spectrogram import Spectrogram, SpectrogramTransformer
from ._vae import TimbreVAE
from ._version import __version__

__all__ = [
    "MatchEQ",
    "Spectrogram",
    "Streamer",
    "SpectrogramTransformer",
    "TimbreCycleGAN",
    "TimbreVAE",
    "__version__",
    "convert",
    "export_torchscript",
]
