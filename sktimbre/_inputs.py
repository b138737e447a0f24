"""The forms a timbre model's input comes in, and what fit and conversion
read of one clip.

Audio is one clip, a 2-D array ``(n_clips, n_samples)`` or a list of clips;
spectrograms are one :class:`~sktimbre.Spectrogram`, a 3-D array or a list
of 2-D arrays. These functions tell the forms apart, check spectrograms
against the transformer the model reads them with, and put either form into
that transformer's representation.
"""

import numbers

import numpy as np

from ._spectrogram import check_spectrogram
from ._spectrogram_array import Spectrogram, carried_transformer
from ._validation import as_items, check_alpha, check_clips

__all__ = [
    "ClipData",
    "check_source",
    "checked_spectrograms",
    "is_spectrogram_input",
    "spec_layout",
    "to_specs",
]


class ClipData:
    """Model-independent tensors of one clip, computed once per fit."""

    def __init__(self, spec, features, f0, domain):
        self.spec = spec
        self.features = features
        self.f0 = f0
        self.domain = domain

    @property
    def n_frames(self):
        return self.spec.shape[-1]


def to_specs(transformer, X, name):
    """Normalised spectrograms (list of 2-D arrays) of clips or spectrograms."""
    if carried_transformer(X) is not None or is_spectrogram_input(X):
        return [np.asarray(s, dtype=np.float32)
                for s in checked_spectrograms(X, transformer, name)]
    clips, _ = check_clips(X, name=name)
    specs = transformer.transform(clips)
    return [np.asarray(s) for s in specs]


def spec_layout(X):
    """How spectrogram input is laid out: ``"list"``, ``"single"`` (one
    2-D array) or ``"array"`` (a 3-D batch), as :func:`mirror_clips` takes."""
    if isinstance(X, (list, tuple)):
        return "list"
    return "single" if np.ndim(X) == 2 else "array"


def is_spectrogram_input(X):
    """Spectrograms are 3-D arrays or lists of 2-D arrays; 2-D arrays are clips."""
    if isinstance(X, Spectrogram):
        return True
    if isinstance(X, (list, tuple)):
        return len(X) > 0 and all(np.ndim(item) == 2 for item in X)
    return np.ndim(X) == 3


def checked_spectrograms(X, transformer, name):
    """The spectrograms of ``X`` as a list, each refused if the networks
    cannot read it (see :func:`~sktimbre._spectrogram.check_spectrogram`)."""
    specs = as_items(X)
    for i, spec in enumerate(specs):
        check_spectrogram(spec, transformer, name=f"{name}[{i}]", reader="this model",
                          fix="pass audio, or spectrograms from the model's own "
                              "spectrogram_ transformer")
    return specs


def check_source(source, classes):
    """The source alpha of a stream or a conversion whose instrument the
    caller names: 0 for domain A, 1 for domain B.

    ``source`` is one of ``classes`` (the model's ``classes_``), or a number
    in [0, 1] (0 and 1 name the two instruments; values between, a blend).
    A label equal to a number is read as the label.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre._inputs import check_source
    >>> check_source("flute", np.array(["flute", "violin"]))
    0.0
    >>> check_source(1, np.array(["A", "B"]))
    1.0
    """
    labels = [label.item() if hasattr(label, "item") else label for label in classes]
    if isinstance(source, bool):
        pass
    elif source in labels:
        # A label wins over a number: with classes [1, 2], 1 names the first.
        return float(labels.index(source))
    elif isinstance(source, numbers.Real):
        return check_alpha(source, name="source")
    raise ValueError(
        f"source={source!r} is neither one of the model's classes {labels} nor "
        "a number in [0, 1]; pass the instrument the input is played on."
    )

