"""One call from a fitted model and a piece to audio in a new voice."""

from sklearn.pipeline import Pipeline

from ._base import BaseTimbreModel
from ._validation import check_alpha

__all__ = ["convert"]


def convert(model, X, alpha=0.5):
    """Render ``X`` with the timbre at ``alpha`` and return audio.

    Parameters
    ----------
    model : Pipeline or TimbreVAE or TimbreCycleGAN
        A fitted ``Pipeline`` whose last step is a timbre model (the steps
        before it are inverted to get back to audio), or a timbre model fitted
        on raw audio.
    X : array-like
        One clip, a 2-D array ``(n_clips, n_samples)`` or a list of clips.
    alpha : float in [0, 1], default=0.5
        0 is the first instrument, 1 the second, between a blend of both.

    Returns
    -------
    ndarray or list of ndarray
        Audio of the same length(s) and layout as ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import Pipeline
    >>> from sktimbre import SpectrogramTransformer, TimbreVAE, convert
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * 220 * t).astype(np.float32) * 0.5] * 2
    >>> b = [np.sign(np.sin(2 * np.pi * 330 * t)).astype(np.float32) * 0.2] * 2
    >>> pipe = Pipeline([("spec", SpectrogramTransformer()),
    ...                  ("vae", TimbreVAE(max_epochs=1, early_stopping=False))])
    >>> convert(pipe.fit(a, b), a[0], alpha=0.5).shape
    (11025,)
    """
    alpha = check_alpha(alpha)
    timbre = timbre_model(model, who="convert")
    if isinstance(model, Pipeline):
        front = model[:-1]
        return front.inverse_transform(timbre.transform(front.transform(X),
                                                        alpha=alpha))
    return model.transform(X, alpha=alpha)


def timbre_model(estimator, *, who):
    """The timbre model of ``estimator``: its last step if it is a Pipeline,
    else itself; a ``TypeError`` naming ``who`` needs it if it is none."""
    timbre = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(timbre, BaseTimbreModel):
        raise TypeError(
            f"{who} needs a TimbreVAE or TimbreCycleGAN, or a Pipeline ending "
            f"in one; got {type(timbre).__name__}."
        )
    return timbre
