"""Scorers for model selection that judge rendered audio.

A timbre model's own ``score`` is measured in its spectrogram's normalised
units, so a search over ``n_fft``, ``hop_length`` or ``n_mels`` cannot rank
candidates by it. These scorers render each validation clip back to audio
with :func:`sktimbre.convert` and measure the audio, so every candidate is
judged on the same scale.
"""

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from sklearn.pipeline import Pipeline

from ._audio_metrics import estimate_f0, log_spectral_distance, raw_pitch_accuracy
from ._classifier import InstrumentClassifier
from ._convert import convert, timbre_model
from ._device import limit_threads
from ._validation import split_clips

__all__ = [
    "make_timbre_scorer",
    "reconstruction_scorer",
    "conversion_scorer",
]

KINDS = ("reconstruction", "conversion", "target", "pitch")
_CONVERSION_KINDS = ("conversion", "target", "pitch")
# Reference judgements (the classifier and the input f0) of the last few
# validation folds: a search scores every candidate on the same folds.
_REFERENCES = OrderedDict()
_REFERENCES_SIZE = 8
_REFERENCES_LOCK = threading.Lock()


class _TimbreScorer:
    """Callable ``scorer(estimator, X, y)``; see :func:`make_timbre_scorer`."""

    def __init__(self, kind, *, n_fft, hop_length, tolerance_cents,
                 pitch_hop_length, C):
        self.kind = kind
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.tolerance_cents = tolerance_cents
        self.pitch_hop_length = pitch_hop_length
        self.C = C

    @property
    def _kinds(self):
        return (self.kind,) if isinstance(self.kind, str) else tuple(self.kind)

    @limit_threads()
    def __call__(self, estimator, X, y):
        timbre = _timbre_model(estimator)
        sr = timbre.spectrogram_.sr
        a, b, _ = split_clips(X, y, who="A timbre scorer")
        scores = {}
        if "reconstruction" in self._kinds:
            own = _render(estimator, a, 0.0) + _render(estimator, b, 1.0)
            scores["reconstruction"] = -log_spectral_distance(
                a + b, own, n_fft=self.n_fft, hop_length=self.hop_length)
        if any(kind in _CONVERSION_KINDS for kind in self._kinds):
            scores.update(self._conversion_scores(estimator, a, b, sr))
        if isinstance(self.kind, str):
            return scores[self.kind]
        return {kind: scores[kind] for kind in self._kinds}

    def _conversion_scores(self, estimator, a, b, sr):
        moved = _render(estimator, a, 1.0) + _render(estimator, b, 0.0)
        classifier, ref_f0 = self._references(a, b, sr)
        proba = classifier.predict_proba(moved)
        # Columns follow classifier.classes_ == [0, 1]: A clips should now
        # look like B (column 1), B clips like A (column 0).
        target = float(np.mean(np.r_[proba[:len(a), 1], proba[len(a):, 0]]))
        pitch = raw_pitch_accuracy(
            a + b, moved, sr=sr, tolerance_cents=self.tolerance_cents,
            ref_f0=ref_f0, hop_length=self.pitch_hop_length)
        return {"target": target, "pitch": pitch, "conversion": target * pitch}

    def _references(self, a, b, sr):
        """The judge fitted on the validation clips, and their f0, cached."""
        digest = hashlib.sha1()
        for clip in a + [None] + b:
            digest.update(b"|" if clip is None else np.ascontiguousarray(clip))
        key = (digest.hexdigest(), sr, self.C, self.pitch_hop_length)
        with _REFERENCES_LOCK:
            if key in _REFERENCES:
                _REFERENCES.move_to_end(key)
                return _REFERENCES[key]
        classifier = InstrumentClassifier(sr=sr, C=self.C).fit(
            a + b, [0] * len(a) + [1] * len(b))
        ref_f0 = [estimate_f0(clip, sr=sr, hop_length=self.pitch_hop_length)
                  for clip in a + b]
        with _REFERENCES_LOCK:
            _REFERENCES[key] = (classifier, ref_f0)
            while len(_REFERENCES) > _REFERENCES_SIZE:
                _REFERENCES.popitem(last=False)
        return classifier, ref_f0

    def __repr__(self):
        return f"make_timbre_scorer(kind={self.kind!r})"


def make_timbre_scorer(kind="conversion", *, n_fft=1024, hop_length=256,
                       tolerance_cents=50.0, pitch_hop_length=1024, C=1.0):
    """Make a scorer for ``GridSearchCV(scoring=...)`` that judges audio.

    The scorer is called as ``scorer(estimator, X_val, y_val)`` with a fitted
    :class:`~sklearn.pipeline.Pipeline` ending in a timbre model, or a timbre
    model fitted on raw audio. ``X_val``, ``y_val`` come in either of the
    forms ``fit`` takes: the two instruments' clips (``X_val`` domain A,
    ``y_val`` domain B), or all clips and one label per clip (the sorted
    first label is domain A). Every clip is rendered back to audio with
    :func:`sktimbre.convert`, so candidates with different ``n_fft``,
    ``hop_length`` or ``n_mels`` are measured on one scale. Greater is better
    for every kind.

    Kinds, and what each rewards:

    - ``"reconstruction"``: minus the :func:`log_spectral_distance` (dB)
      between each clip and its rendering at its own timbre (``alpha=0`` for
      A clips, ``1`` for B clips). Rewards a representation and decoder that
      lose little, Griffin-Lim included; it says nothing about conversion.
    - ``"target"``: mean probability of the target instrument given to the
      converted clips (A rendered at ``alpha=1``, B at ``alpha=0``) by an
      :class:`InstrumentClassifier` fitted, inside the scorer, on the
      validation clips of both instruments. Rewards moving the timbre; 0.5
      is a judge that cannot tell.
    - ``"pitch"``: :func:`raw_pitch_accuracy` of the converted clips against
      their inputs (pYIN, ``tolerance_cents``). Rewards keeping the melody.
    - ``"conversion"``: ``target * pitch``. A conversion is only good when it
      both changes the instrument and keeps the notes; the product is low
      when either fails (an unchanged copy keeps the pitch but scores low on
      target, noise in the target's colour loses the pitch).

    Parameters
    ----------
    kind : str or list of str, default="conversion"
        One of ``"reconstruction"``, ``"conversion"``, ``"target"``,
        ``"pitch"`` for a scorer returning a float; a list of them for one
        returning a dict ``{kind: score}``, which sklearn's searches accept
        as multimetric ``scoring`` (pass ``refit=`` one of the kinds). The
        list form renders each clip once for all its kinds, which is cheaper
        than a dict of separate scorers.
    n_fft, hop_length : int, default=1024, 256
        STFT of the log-spectral distance; fixed, whatever the candidate's
        own settings, so scores compare across them.
    tolerance_cents : float, default=50
        Pitch error still counted as kept.
    pitch_hop_length : int, default=1024
        Hop of the pYIN pitch tracker (frame length 2048 samples); larger is
        faster and coarser.
    C : float, default=1.0
        Inverse regularisation of the judge's logistic regression.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning a float, or a dict for a list
        of kinds.

    See Also
    --------
    reconstruction_scorer, conversion_scorer : the two ready-made scorers.

    Notes
    -----
    The judge and the inputs' f0 depend only on the validation clips, so they
    are computed once per fold and reused for every candidate scored on it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import Pipeline
    >>> from sktimbre import SpectrogramTransformer, TimbreVAE
    >>> from sktimbre.metrics import make_timbre_scorer
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * f * t).astype(np.float32) * 0.5
    ...      for f in (220, 262, 330)]
    >>> b = [np.sign(np.sin(2 * np.pi * f * t)).astype(np.float32) * 0.2
    ...      for f in (247, 294, 349)]
    >>> pipe = Pipeline([("spec", SpectrogramTransformer(n_fft=512)),
    ...                  ("vae", TimbreVAE(hidden=16, max_epochs=1,
    ...                                    early_stopping=False, random_state=0))])
    >>> pipe = pipe.fit(a, b)
    >>> scorer = make_timbre_scorer(["reconstruction", "target", "pitch"])
    >>> scores = scorer(pipe, a, b)
    >>> sorted(scores)
    ['pitch', 'reconstruction', 'target']
    >>> bool(scores["reconstruction"] < 0 and 0 <= scores["target"] <= 1)
    True
    """
    for item in (kind,) if isinstance(kind, str) else kind:
        if item not in KINDS:
            raise ValueError(
                f"kind={item!r} is not a timbre score; use one of {list(KINDS)} "
                "or a list of them."
            )
    if not isinstance(kind, str):
        kind = list(kind)
        if not kind:
            raise ValueError(f"kind=[] names no score; use some of {list(KINDS)}.")
    return _TimbreScorer(kind, n_fft=n_fft, hop_length=hop_length,
                         tolerance_cents=tolerance_cents,
                         pitch_hop_length=pitch_hop_length, C=C)


def reconstruction_scorer(estimator, X, y):
    """Minus the log-spectral distance (dB) of clips rendered at their own timbre.

    ``make_timbre_scorer("reconstruction")`` with its defaults; see there for
    what it rewards.

    Parameters
    ----------
    estimator : Pipeline or TimbreVAE or TimbreCycleGAN
        Fitted; a bare timbre model must have been fitted on raw audio.
    X, y : array-like
        Domain A clips and domain B clips, or all clips and one label each.

    Returns
    -------
    float
        ``<= 0``; 0 is a perfect reconstruction.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreVAE
    >>> from sktimbre.metrics import reconstruction_scorer
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * f * t).astype(np.float32) * 0.5 for f in (220, 330)]
    >>> b = [np.sign(np.sin(2 * np.pi * f * t)).astype(np.float32) * 0.2
    ...      for f in (262, 392)]
    >>> vae = TimbreVAE(hidden=16, max_epochs=1, early_stopping=False,
    ...                 random_state=0).fit(a, b)
    >>> bool(reconstruction_scorer(vae, a + b, [0, 0, 1, 1]) < 0)
    True
    """
    return _RECONSTRUCTION(estimator, X, y)


def conversion_scorer(estimator, X, y):
    """P(target instrument) of converted clips times the pitch accuracy kept.

    ``make_timbre_scorer("conversion")`` with its defaults; see there for
    what it rewards and how the two parts combine.

    Parameters
    ----------
    estimator : Pipeline or TimbreVAE or TimbreCycleGAN
        Fitted; a bare timbre model must have been fitted on raw audio.
    X, y : array-like
        Domain A clips and domain B clips, or all clips and one label each;
        at least one clip of each instrument, pitched.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreVAE
    >>> from sktimbre.metrics import conversion_scorer
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * f * t).astype(np.float32) * 0.5 for f in (220, 330)]
    >>> b = [np.sign(np.sin(2 * np.pi * f * t)).astype(np.float32) * 0.2
    ...      for f in (262, 392)]
    >>> vae = TimbreVAE(hidden=16, max_epochs=1, early_stopping=False,
    ...                 random_state=0).fit(a, b)
    >>> 0.0 <= conversion_scorer(vae, a, b) <= 1.0
    True
    """
    return _CONVERSION(estimator, X, y)


_RECONSTRUCTION = make_timbre_scorer("reconstruction")
_CONVERSION = make_timbre_scorer("conversion")


def _timbre_model(estimator):
    timbre = timbre_model(estimator, who="A timbre scorer")
    if not isinstance(estimator, Pipeline) and getattr(
            timbre, "input_is_spectrogram_", False):
        raise TypeError(
            f"This {type(timbre).__name__} was fitted on spectrograms, so its "
            "output cannot be judged as audio; score the Pipeline "
            "(SpectrogramTransformer + model) instead."
        )
    return timbre


def _render(estimator, clips, alpha):
    return list(convert(estimator, clips, alpha=alpha))
