"""Spectrogram: an array that remembers how to turn itself back into audio.

Apart from the transformer that makes it so that the input checks, which
recognise it, import it without importing the transformer they check for.
"""

import numpy as np

__all__ = ["Spectrogram", "carried_transformer"]


class Spectrogram(np.ndarray):
    """A spectrogram array that remembers how to turn itself back into audio.

    It is an ordinary :class:`numpy.ndarray` of shape ``(n_freq, n_frames)``
    for one clip or ``(n_clips, n_freq, n_frames)`` for a batch, with three
    attributes that survive arithmetic:

    - ``transformer``: the fitted :class:`SpectrogramTransformer` that made it,
      so a later pipeline step can put raw clips into the same representation
      and hand its output back for :meth:`SpectrogramTransformer.inverse_transform`;
    - ``lengths``: the clip's length in samples (an int), or one per clip;
    - ``phase``: the STFT phase of the source, reused as Griffin-Lim's starting
      point (``None`` once the shape changes, e.g. after slicing a batch);
    - ``timbre``: set by a timbre model's ``transform``, the pair
      ``(source_alpha, alpha)`` of where the content came from and where it
      was rendered, which ``inverse_transform`` uses to go back.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import SpectrogramTransformer
    >>> spec = SpectrogramTransformer().fit(np.zeros((2, 4096)))
    >>> S = spec.transform(np.zeros((2, 4096)))
    >>> S.shape, S.lengths.tolist(), S.transformer is spec
    ((2, 513, 17), [4096, 4096], True)
    """

    def __new__(cls, values, *, transformer=None, lengths=None, phase=None,
                timbre=None):
        obj = np.asarray(values).view(cls)
        obj.transformer = transformer
        obj.lengths = lengths
        obj.phase = phase
        obj.timbre = timbre
        return obj

    def __array_finalize__(self, obj):
        if obj is None:
            return
        self.transformer = getattr(obj, "transformer", None)
        same_shape = getattr(obj, "shape", None) == self.shape
        self.lengths = getattr(obj, "lengths", None) if same_shape else None
        self.phase = getattr(obj, "phase", None) if same_shape else None
        self.timbre = getattr(obj, "timbre", None) if same_shape else None

    def __reduce__(self):
        base = super().__reduce__()
        extra = (self.transformer, self.lengths, self.phase, self.timbre)
        return base[0], base[1], (base[2], *extra)

    def __setstate__(self, state):
        array_state, self.transformer, self.lengths, self.phase, self.timbre = state
        super().__setstate__(array_state)


def carried_transformer(X):
    """The transformer that made ``X`` (a :class:`Spectrogram`, or a list
    of them), or None for anything else."""
    if isinstance(X, Spectrogram) and X.transformer is not None:
        return X.transformer
    if isinstance(X, (list, tuple)) and X and isinstance(X[0], Spectrogram):
        return X[0].transformer
    return None
