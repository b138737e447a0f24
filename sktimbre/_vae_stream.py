"""The TimbreVAE's live conversion: :meth:`TimbreVAE.stream`."""

from ._realtime import make_streamer

__all__ = ["StreamMixin"]


class StreamMixin:
    """``stream`` of :class:`~sktimbre.TimbreVAE`."""

    def stream(self, *, block_size=512, alpha=None, source):
        """A :class:`~sktimbre._realtime.Streamer` that converts a live
        signal block by block.

        Whole-clip quantities of :meth:`transform` are fixed in advance: the
        instrument played (``source``) and the pitch tracker's scale (the
        STFT peak of a full-scale sine). The output is played by the
        additive synthesiser, so the input's own detail (``keep_detail``)
        does not reach it: it equals
        ``transform(piece, alpha=alpha, source=source)`` of a model with
        ``synthesis="additive"`` and ``keep_detail=0`` over the whole
        piece, delayed by ``streamer.lookahead_samples`` (docs/realtime.md).

        Parameters
        ----------
        block_size : int, default=512
            Samples per :meth:`~Streamer.process` call; any size.
        alpha : float in [0, 1], optional
            Timbre rendered; the model's ``alpha`` when omitted. Settable
            between blocks as ``streamer.alpha``.
        source : label or float in [0, 1]
            The instrument the input is played on: one of ``classes_``, or
            0 (A) and 1 (B).

        Returns
        -------
        Streamer

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import TimbreVAE
        >>> t = np.arange(22050) / 22050
        >>> A = [np.sin(2 * np.pi * f * t).astype(np.float32) for f in (220, 330)]
        >>> B = [0.3 * np.sign(A[0]), 0.3 * np.sign(A[1])]
        >>> vae = TimbreVAE(hidden=16, max_epochs=1, random_state=0).fit(A, B)
        >>> streamer = vae.stream(block_size=256, alpha=1.0, source="A")
        >>> blocks = [streamer.process(A[0][i:i + 256]) for i in range(0, 22016, 256)]
        >>> streamer.lookahead_samples  # 49 frames (notes, decoder), STFT, synthesiser
        13312
        """
        return make_streamer(self, block_size=block_size, alpha=alpha, source=source)
