"""The private scikit-learn API sktimbre uses, imported in this one place.

Parameter constraints (``HasMethods``, ``Interval``, ``StrOptions``), the
error they raise (``InvalidParameterError``) and the ``fit`` decorator that
checks them (``_fit_context``) live in private scikit-learn modules, which a
release may move. Every other module imports them from here, so such a release
breaks this file with a message naming the tested versions, not every
estimator with a bare ``ImportError``.
"""

import functools

import sklearn

__all__ = ["HasMethods", "Interval", "InvalidParameterError", "StrOptions",
           "fit_context"]

# The releases the test suite has run against; setup.py requires this range.
TESTED_RANGE = ">=1.6,<1.10"

try:
    from sklearn.utils._param_validation import (
        HasMethods,
        Interval,
        InvalidParameterError,
        StrOptions,
    )
except ImportError as exc:  # pragma: no cover - only on an untested release
    # The constraints are read by BaseEstimator._validate_params, so there is
    # no stand-in of our own that scikit-learn would accept.
    raise ImportError(
        f"sktimbre needs scikit-learn's parameter constraints "
        f"(sklearn.utils._param_validation), which scikit-learn "
        f"{sklearn.__version__} does not have; install a release in the tested "
        f"range (pip install 'scikit-learn{TESTED_RANGE}')."
    ) from exc

try:
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover - only on an untested release
    _fit_context = None


def fit_context(*, prefer_skip_nested_validation):
    """Decorator of ``fit``: validate the parameters, then fit.

    scikit-learn's ``_fit_context`` where it exists; otherwise a stand-in
    that validates the parameters and fits, without scikit-learn's
    configuration of nested validation.

    Parameters
    ----------
    prefer_skip_nested_validation : bool
        As in scikit-learn: True skips validating the parameters of the
        estimators and functions ``fit`` calls; False (for estimators that
        hold other, unvalidated estimators) keeps it.

    Returns
    -------
    decorator : callable
    """
    if _fit_context is not None:
        return _fit_context(prefer_skip_nested_validation=prefer_skip_nested_validation)

    def decorator(fit_method):
        @functools.wraps(fit_method)
        def wrapper(estimator, *args, **kwargs):
            if not sklearn.get_config().get("skip_parameter_validation", False):
                estimator._validate_params()
            return fit_method(estimator, *args, **kwargs)

        return wrapper

    return decorator
