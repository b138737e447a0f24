"""Warnings and errors that sktimbre adds to those of scikit-learn."""

from sklearn.exceptions import NotFittedError

__all__ = ["DeviceWarning", "NotFittedError", "TrainingInterrupted"]


class DeviceWarning(UserWarning):
    """A computation ran on another device than the one asked for."""


class TrainingInterrupted(UserWarning):
    """Training stopped early (Ctrl-C or a time budget); the best weights so far
    were kept and the model is usable."""
