"""How close a conversion is to the target, and whether it kept the pitch.

All measures take audio, so results for different spectrogram settings
(n_fft, hop_length, n_mels) are comparable.
"""

from ._audio_metrics import (
    blend_gap,
    estimate_f0,
    log_spectral_distance,
    mel_cepstral_distortion,
    raw_pitch_accuracy,
)
from ._classifier import InstrumentClassifier, timbre_features
from ._scorers import conversion_scorer, make_timbre_scorer, reconstruction_scorer

__all__ = [
    "log_spectral_distance",
    "mel_cepstral_distortion",
    "raw_pitch_accuracy",
    "estimate_f0",
    "blend_gap",
    "InstrumentClassifier",
    "timbre_features",
    "make_timbre_scorer",
    "reconstruction_scorer",
    "conversion_scorer",
]
