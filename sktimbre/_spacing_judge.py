"""The judge a timbre model spaces alpha with, from its ``calibrate_alpha``.

Kept apart from :mod:`sktimbre._alpha_spacing`, which takes any judge, so
that the default one (an evaluation classifier) is named in one place.
"""

from sklearn.base import clone

from ._classifier import InstrumentClassifier
from ._sklearn_compat import HasMethods

# What ``calibrate_alpha`` accepts: a flag, or a classifier to clone.
CALIBRATE_ALPHA_CONSTRAINT = ["boolean", HasMethods(["fit", "predict_proba"])]


def spacing_judge(calibrate_alpha, sr):
    """An unfitted judge for :func:`~sktimbre._alpha_spacing.judge_paths`.

    ``True`` gives the default judge: an
    :class:`~sktimbre.metrics.InstrumentClassifier` on the ``"legacy"``
    timbre features (harmonic-to-noise ratios, harmonic level slope, MFCC
    deltas). The benchmarks score conversions with the ``"eq_invariant"``
    set, fitted on the real training clips: a model spaced by that same
    judge would be graded by its own ruler. An estimator is cloned, so the
    model's parameter stays unfitted.

    Parameters
    ----------
    calibrate_alpha : True or classifier
        A model's ``calibrate_alpha`` (not False: nothing is judged then).
    sr : int
        Sample rate of the renders the default judge hears.

    Returns
    -------
    judge : classifier
        Unfitted; it will be fitted on clips with labels 0 (instrument A)
        and 1 (B) and asked ``predict_proba``.

    Examples
    --------
    >>> spacing_judge(True, 22050).feature_set
    'legacy'
    >>> from sktimbre.metrics import InstrumentClassifier
    >>> mine = InstrumentClassifier(feature_set="eq_invariant")
    >>> judge = spacing_judge(mine, 22050)
    >>> judge is not mine, judge.feature_set
    (True, 'eq_invariant')
    """
    if calibrate_alpha is True:
        return InstrumentClassifier(sr=sr, feature_set="legacy")
    return clone(calibrate_alpha)
