"""Pictures of conversions and training: spectrograms along alpha, curves."""

from pathlib import Path

import librosa
import librosa.display
import numpy as np

from ._atomic import atomic_path

__all__ = ["plot_alpha_spectrograms", "plot_blend_grid", "plot_history",
           "plot_alpha_sweep", "plot_spectrogram"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline"):
        matplotlib.use("Agg")  # headless: files, never windows
    import matplotlib.pyplot as plt

    return plt


def _db_spectrogram(y, n_fft, hop_length):
    """dB magnitude of ``y``'s STFT, relative to 1, not clipped."""
    return librosa.amplitude_to_db(
        np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length)), ref=1.0,
        top_db=None)


def plot_spectrogram(y, *, sr=22050, ax=None, title=None, n_fft=1024, hop_length=256):
    """Draw one clip's dB spectrogram on ``ax`` (a new figure when omitted).

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre.plotting import plot_spectrogram
    >>> ax = plot_spectrogram(np.zeros(4096, dtype=np.float32))
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    db = _db_spectrogram(y, n_fft, hop_length)
    librosa.display.specshow(np.maximum(db, db.max() - 80), sr=sr,
                             hop_length=hop_length, x_axis="time", y_axis="hz", ax=ax)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_alpha_spectrograms(source, converted, *, sr=22050, path=None,
                            source_label="input"):
    """Input and its conversions side by side, one panel per alpha.

    Parameters
    ----------
    source : ndarray
        The input clip.
    converted : dict of {float: ndarray}
        Converted audio by alpha.
    sr : int, default=22050
    path : str or path, optional
        Save the figure there (PNG) and close it.
    source_label : str, default="input"
        Title of the input's panel.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sktimbre.plotting import plot_alpha_spectrograms
    >>> t = np.arange(8192) / 22050
    >>> tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    >>> folder = tempfile.TemporaryDirectory()
    >>> fig = plot_alpha_spectrograms(tone, {0.0: tone, 1.0: 0.5 * tone},
    ...                               path=f"{folder.name}/alphas.png")
    >>> [ax.get_title() for ax in fig.axes]
    ['input', 'alpha = 0', 'alpha = 1']
    >>> folder.cleanup()
    """
    plt = _pyplot()
    panels = [(source_label, source)] + [
        (f"alpha = {alpha:g}", audio) for alpha, audio in sorted(converted.items())]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3),
                             sharey=True, constrained_layout=True)
    for ax, (label, audio) in zip(np.atleast_1d(axes), panels):
        plot_spectrogram(audio, sr=sr, ax=ax, title=label)
    return _finish(fig, path)


def plot_blend_grid(piece_a, piece_b, rendered_a, rendered_b, *, sr=22050, path=None,
                    labels=("A", "B"), n_fft=1024, hop_length=256, top_db=80.0):
    """The same notes from both instruments along alpha, one column per alpha.

    Two rows of dB spectrograms on one shared colour scale: the top row
    starts from a piece played by instrument A, the bottom row from the same
    notes played by B; each column is one alpha. The first column shows the
    inputs themselves. A model that blends the two into one voice makes the
    rows meet at alpha 0.5 (compare :func:`~sktimbre.metrics.blend_gap`).

    Parameters
    ----------
    piece_a, piece_b : ndarray
        The piece played by instrument A and the same notes played by B.
    rendered_a, rendered_b : dict of {float: ndarray}
        Already converted audio by alpha, of ``piece_a`` and of ``piece_b``;
        both must hold the same alphas.
    sr : int, default=22050
    path : str or path, optional
        Save the figure there (PNG) and close it.
    labels : tuple of str, default=("A", "B")
        The instruments' names, e.g. ``("violin", "flute")``.
    n_fft, hop_length : int
        STFT of the spectrograms.
    top_db : float, default=80
        Dynamic range of the shared colour scale, below the loudest bin of
        all panels.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sktimbre.plotting import plot_blend_grid
    >>> t = np.arange(8192) / 22050
    >>> a = np.sign(np.sin(2 * np.pi * 440 * t)).astype(np.float32) * 0.3
    >>> b = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    >>> mix = 0.5 * (a + b)
    >>> folder = tempfile.TemporaryDirectory()
    >>> fig = plot_blend_grid(a, b, {0.0: a, 0.5: mix, 1.0: b},
    ...                       {0.0: a, 0.5: mix, 1.0: b}, labels=("violin", "flute"),
    ...                       path=f"{folder.name}/grid.png")
    >>> [ax.get_title() for ax in fig.axes[:4]]
    ['violin (input)', 'violin, alpha = 0', 'violin, alpha = 0.5', 'violin, alpha = 1']
    >>> folder.cleanup()
    """
    alphas = sorted(rendered_a)
    if sorted(rendered_b) != alphas:
        raise ValueError(
            f"rendered_a holds alphas {[float(a) for a in alphas]} but rendered_b "
            f"holds {[float(a) for a in sorted(rendered_b)]}; render both pieces "
            "at the same alphas.")
    rows = [[(f"{label} (input)", piece)]
            + [(f"{label}, alpha = {alpha:g}", rendered[alpha]) for alpha in alphas]
            for label, piece, rendered in zip(labels, (piece_a, piece_b),
                                              (rendered_a, rendered_b))]
    dbs = [[_db_spectrogram(np.asarray(audio, dtype=np.float32), n_fft, hop_length)
            for _, audio in row] for row in rows]
    vmax = max(float(db.max()) for row in dbs for db in row)
    vmin = vmax - top_db
    plt = _pyplot()
    n_cols = len(alphas) + 1
    fig, axes = plt.subplots(2, n_cols, figsize=(2.8 * n_cols + 0.8, 5.2),
                             sharex=True, sharey=True, squeeze=False,
                             constrained_layout=True)
    for r, (row, row_db) in enumerate(zip(rows, dbs)):
        for c, ((title, _), db) in enumerate(zip(row, row_db)):
            ax = axes[r, c]
            image = librosa.display.specshow(
                np.maximum(db, vmin), sr=sr, hop_length=hop_length, x_axis="time",
                y_axis="hz", ax=ax, vmin=vmin, vmax=vmax, cmap="magma")
            ax.set_title(title, fontsize=9)
            if c:
                ax.set_ylabel("")
            if r == 0:
                ax.set_xlabel("")
    fig.colorbar(image, ax=axes, format="%+2.0f dB", shrink=0.8)
    return _finish(fig, path)


def plot_history(history, *, path=None):
    """Training curves from an estimator's ``history_``.

    Parameters
    ----------
    history : dict
        ``history_`` of a fitted timbre model: ``"epoch"`` and per-epoch
        lists; every list as long as ``"epoch"`` becomes one curve, other
        entries (single measurements) and lists of NaN only (``valid_loss``
        when no clips were held out) are left out.
    path : str or path, optional
        Save the figure there (PNG) and close it.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from sktimbre.plotting import plot_history
    >>> history = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.5],
    ...            "valid_loss": [1.1, 0.7, 0.6], "latent_domain_accuracy": 0.5}
    >>> fig = plot_history(history)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['train_loss', 'valid_loss']
    >>> plt.close(fig)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
    epochs = history["epoch"]
    for key, values in history.items():
        if (key != "epoch" and isinstance(values, list)
                and len(values) == len(epochs)
                and not (values and np.isnan(values).all())):
            ax.plot(epochs, values, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    return _finish(fig, path)


def plot_alpha_sweep(alphas, probabilities, *, path=None, label="P(domain B)"):
    """A classifier's probability of domain B along alpha (ideal: the diagonal).

    Parameters
    ----------
    alphas : array-like of float
        The alphas converted at.
    probabilities : array-like of float
        The classifier's probability of domain B for the output at each alpha.
    path : str or path, optional
        Save the figure there (PNG) and close it.
    label : str, default="P(domain B)"
        Name of the probability, e.g. ``"P(flute)"``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from sktimbre.plotting import plot_alpha_sweep
    >>> fig = plot_alpha_sweep([0.0, 0.5, 1.0], [0.1, 0.5, 0.9], label="P(flute)")
    >>> fig.axes[0].get_ylabel()
    'P(flute)'
    >>> plt.close(fig)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 3), constrained_layout=True)
    ax.plot(alphas, probabilities, "o-", label=label)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="proportional")
    ax.set_xlabel("alpha")
    ax.set_ylabel(label)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    return _finish(fig, path)


def _finish(fig, path):
    if path is not None:
        # The picture's format from its extension, PNG without one; written
        # whole or not at all, so a failed save keeps an older picture.
        fmt = Path(path).suffix.lstrip(".").lower() or "png"
        try:
            with atomic_path(path) as temporary, open(temporary, "wb") as handle:
                fig.savefig(handle, dpi=90, format=fmt)
        finally:
            _pyplot().close(fig)
    return fig
