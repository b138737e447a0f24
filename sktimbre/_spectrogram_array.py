"""Spectrogram: an array that remembers how to turn itself back into audio.

Apart from the transformer that makes it so that the input checks, which
recognise it, import it without importing the transformer they check for.
"""

import hashlib

import numpy as np

__all__ = ["Spectrogram", "carried_transformer", "RenderedAudio", "rendered_audio"]


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
      was rendered, which ``inverse_transform`` uses to go back;
    - ``audio``: set by a timbre model that synthesises its own waveform
      (``TimbreVAE(synthesis="additive")``), a :class:`RenderedAudio` (one
      per clip of a batch) that ``inverse_transform`` returns instead of
      running Griffin-Lim, as long as the values are still those it was
      rendered with (``None`` once the shape changes).

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
                timbre=None, audio=None):
        obj = np.asarray(values).view(cls)
        obj.transformer = transformer
        obj.lengths = lengths
        obj.phase = phase
        obj.timbre = timbre
        obj.audio = audio
        return obj

    def __array_finalize__(self, obj):
        if obj is None:
            return
        self.transformer = getattr(obj, "transformer", None)
        same_shape = getattr(obj, "shape", None) == self.shape
        self.lengths = getattr(obj, "lengths", None) if same_shape else None
        self.phase = getattr(obj, "phase", None) if same_shape else None
        self.timbre = getattr(obj, "timbre", None) if same_shape else None
        self.audio = getattr(obj, "audio", None) if same_shape else None

    def __reduce__(self):
        base = super().__reduce__()
        extra = (self.transformer, self.lengths, self.phase, self.timbre, self.audio)
        return base[0], base[1], (base[2], *extra)

    def __setstate__(self, state):
        # Pickles made before ``audio`` existed carry one attribute less.
        array_state, *extra = state
        self.transformer, self.lengths, self.phase, self.timbre = extra[:4]
        self.audio = extra[4] if len(extra) > 4 else None
        super().__setstate__(array_state)


class RenderedAudio:
    """A waveform a timbre model synthesised for a spectrogram, with a
    fingerprint of the values it was synthesised for.

    Arithmetic on a :class:`Spectrogram` keeps its attributes, so whether its
    values are still the model's output cannot be told from the attribute
    alone: the fingerprint (a hash of the float32 values) tells it, at the
    cost of one pass over them.

    Parameters
    ----------
    waveform : ndarray of shape (n_samples,)
    values : ndarray of shape (n_freq, n_frames)
        The spectrogram the waveform renders.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre._spectrogram_array import RenderedAudio
    >>> values = np.zeros((3, 4), dtype=np.float32)
    >>> rendered = RenderedAudio(np.ones(8, dtype=np.float32), values)
    >>> rendered.matches(values), rendered.matches(values + 1)
    (True, False)
    """

    def __init__(self, waveform, values):
        self.waveform = waveform
        self.fingerprint = _fingerprint(values)

    def matches(self, values):
        """Whether ``values`` are those the waveform was rendered for."""
        return _fingerprint(values) == self.fingerprint


def _fingerprint(values):
    data = np.ascontiguousarray(values, dtype=np.float32)
    # SHA-256 over the array's own memory, not a copy of its bytes: CPUs
    # with SHA instructions hash it two to three times as fast as BLAKE2.
    digest = hashlib.sha256(data.reshape(-1).view(np.uint8))
    digest.update(repr(data.shape).encode())
    return digest.hexdigest()


def rendered_audio(carried, values, length):
    """The waveform ``carried`` (a :class:`RenderedAudio` or None) holds for
    ``values``, trimmed or zero-padded to ``length`` samples; None when there
    is none or the values were changed since it was rendered."""
    if not isinstance(carried, RenderedAudio) or not carried.matches(values):
        return None
    waveform = carried.waveform
    if length is None or len(waveform) == length:
        return waveform
    out = np.zeros(int(length), dtype=waveform.dtype)
    out[:min(len(waveform), int(length))] = waveform[:int(length)]
    return out


def carried_transformer(X):
    """The transformer that made ``X`` (a :class:`Spectrogram`, or a list
    of them), or None for anything else."""
    if isinstance(X, Spectrogram) and X.transformer is not None:
        return X.transformer
    if isinstance(X, (list, tuple)) and X and isinstance(X[0], Spectrogram):
        return X[0].transformer
    return None
