"""Streaming conversion: blocks of audio in, blocks of converted audio out.

:class:`BlockConverter` is the whole chain as one ``torch.nn.Module`` that
``torch.jit.script`` compiles (what :func:`~sktimbre.export_torchscript`
saves): a :class:`~sktimbre._frame_stream.ControlStream` turns samples into
the TimbreVAE's synthesiser controls, an
:class:`~sktimbre._synth.AdditiveSynth` plays them block by block from its
explicit state, and a queue hands out exactly one block per block, delayed
by a fixed number of samples. :class:`Streamer` wraps it for Python callers.
"""

import numbers

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._alpha_spacing import POSITIONS
from ._frame_stream import ControlStream, lag_frames, stream_peak
from ._inputs import check_source
from ._synth import SynthState
from ._validation import check_alpha

__all__ = ["BlockConverter", "Streamer", "stream_delay", "make_streamer"]


# The synthesiser's state between blocks, kept as buffers of the converter.
_SYNTH_STATE = ("phase", "last_f0", "amplitude", "harmonic_delay", "noise_tail",
                "noise_delay", "frame", "started")


def stream_delay(*, n_fft, hop_length, lag_frames, synth_latency, block_size):
    """Samples by which a stream's output lags its input: the fewest for
    which every block's samples are ready when it is due.

    After ``R`` samples in, the frames whose windows they complete number
    ``(R - n_fft // 2) // hop_length + 1``; the controls of all but the last
    ``lag_frames`` of them are known, and the synthesiser has played them up
    to ``synth_latency`` samples before the last one's end. The shortfall
    repeats with the phase of ``R`` modulo ``hop_length``, so one cycle of
    blocks past the start shows the largest.
    """
    warm_up = n_fft + (lag_frames + 2) * hop_length + synth_latency
    calls = warm_up // block_size + hop_length + 2
    delay = 0
    for call in range(1, calls + 1):
        received = call * block_size
        frames = max(0, (received - n_fft // 2) // hop_length + 1)
        played = max(0, (frames - lag_frames) * hop_length - synth_latency)
        delay = max(delay, received - played)
    return delay


class BlockConverter(nn.Module):
    """A fitted TimbreVAE's conversion of fixed-size blocks of mono audio.

    ``forward(block)`` takes ``block_size`` samples (float32, 1-D) and
    returns as many: the offline conversion of the stream so far, delayed
    by ``delay_samples``. ``alpha`` may be changed between blocks (an
    attribute); ``reset()`` starts a new stream.
    """

    def __init__(self, model, block_size: int, alpha: float, source: float,
                 peak: float):
        super().__init__()
        transformer = model.spectrogram_
        device = model.device_
        self.block_size = int(block_size)
        self.sample_rate = int(transformer.sr)
        self.hop_length = int(transformer.hop_length)
        self.register_buffer("positions", torch.as_tensor(POSITIONS, device=device))
        curve = getattr(model, "alpha_curve_", None)
        curve = POSITIONS if curve is None else curve[0]
        self.register_buffer("curve", torch.as_tensor(curve, device=device))
        self.alpha = float(alpha)
        self.rendered_alpha = float(alpha)
        self.controls = ControlStream(model, self.alpha, self._spaced(alpha), source,
                                      peak)
        self.synth = model.synthesiser()
        self.n_harmonics = int(model.n_harmonics)
        self.delay_samples = stream_delay(
            n_fft=transformer.n_fft, hop_length=self.hop_length,
            lag_frames=lag_frames(model), synth_latency=self.synth.latency,
            block_size=self.block_size)

        for name in _SYNTH_STATE + ("output",):
            self.register_buffer(name, torch.zeros(0, device=device))
        self.to_drop = 0
        self._init_state(device)

    def _init_state(self, device: torch.device):
        self._keep(self.synth.initial_state(1, device))
        # The synthesiser's first samples precede the clip's first sample.
        self.to_drop = self.synth.latency
        self.output = torch.zeros(self.delay_samples, device=device)

    def _keep(self, state: SynthState):
        self.phase, self.last_f0 = state.phase, state.f0
        self.amplitude = state.amplitude
        self.harmonic_delay, self.noise_tail = state.harmonic_delay, state.noise_tail
        self.noise_delay, self.frame, self.started = (
            state.noise_delay, state.frame, state.started)

    def _spaced(self, alpha: float) -> float:
        """The decoder alpha of ``alpha``: linear interpolation in the
        model's ``alpha_curve_``, as ``TimbreVAE._position``."""
        step = self.positions[1] - self.positions[0]
        low = min(int(alpha / float(step)), self.positions.shape[0] - 2)
        share = (alpha - float(self.positions[low])) / float(step)
        below, above = float(self.curve[low]), float(self.curve[low + 1])
        return below + share * (above - below)

    @torch.jit.export
    def set_alpha(self, alpha: float):
        """Render at ``alpha`` from the next block on."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError("alpha=" + str(alpha) + " is outside [0, 1]; pass "
                             "a value between 0 (domain A) and 1 (domain B).")
        self.alpha = alpha

    @torch.jit.export
    def reset(self):
        """Forget every sample seen: the state of a new stream."""
        self.controls.reset()
        self._init_state(self.output.device)

    def _play(self, f0: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        """Audio of new frames' controls, after the samples still to drop."""
        if f0.shape[-1] == 0:
            return self.output[:0]
        state = SynthState(self.phase, self.last_f0, self.amplitude,
                           self.harmonic_delay, self.noise_tail, self.noise_delay,
                           self.frame, self.started)
        audio, state = self.synth.synthesize_block(
            f0, controls[:, :self.n_harmonics], controls[:, self.n_harmonics:], state)
        self._keep(state)
        drop = min(self.to_drop, audio.shape[-1])
        self.to_drop -= drop
        return audio[0, drop:]

    def forward(self, block: torch.Tensor) -> torch.Tensor:
        if block.dim() != 1 or block.shape[0] != self.block_size:
            raise ValueError(
                "block has shape " + str(list(block.shape)) + " but this "
                "converter takes mono blocks of " + str(self.block_size)
                + " samples; pass a 1-D block of that length.")
        if not bool(torch.isfinite(block).all()):
            raise ValueError("block holds NaN or infinite samples; pass finite "
                             "audio, nominally in [-1, 1].")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError("alpha=" + str(self.alpha) + " is outside [0, 1]; "
                             "set a value between 0 (domain A) and 1 (domain B).")
        if self.alpha != self.rendered_alpha:
            self.controls.set_target(self.alpha, self._spaced(self.alpha))
            self.rendered_alpha = self.alpha
        # A host may hand CPU samples to a module moved to a GPU.
        block = block.to(device=self.output.device, dtype=self.output.dtype)
        f0, controls = self.controls(block)
        self.output = torch.cat([self.output, self._play(f0, controls)])
        out = self.output[:self.block_size]
        self.output = self.output[self.block_size:]
        return out


class Streamer:
    """Convert a live signal block by block with a fitted TimbreVAE.

    Made by :meth:`TimbreVAE.stream`. Each :meth:`process` call takes
    ``block_size`` new samples and returns ``block_size`` converted ones;
    concatenated, the output equals the offline conversion
    ``model.transform(piece, alpha=alpha, source=source)`` of the whole
    input delayed by ``lookahead_samples`` (zeros before), to float
    rounding, as long as ``model.synthesis="additive"`` renders it.

    Attributes
    ----------
    block_size : int
    sample_rate : int
    lookahead_samples : int
        Samples by which the output lags the input inside the stream: the
        STFT's half window, the networks' and loudness average's lookahead
        frames and the synthesiser's overlap, rounded up to whole blocks'
        worth of ready samples.
    latency_samples : int
        What a host hears: ``lookahead_samples`` plus the block it collects
        before calling :meth:`process`.
    latency_ms : float
        ``latency_samples`` in milliseconds.
    module : BlockConverter
        The ``torch.nn.Module`` doing the work, whose state is the whole
        state of the stream (analysis samples, f0 tracker, loudness average,
        every convolution's cached frames, oscillator phases, noise tail).

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreVAE
    >>> t = np.arange(22050) / 22050
    >>> A = [(0.3 * np.sign(np.sin(2 * np.pi * f * t))).astype(np.float32)
    ...      for f in (220, 330)]
    >>> B = [(0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (262, 392)]
    >>> vae = TimbreVAE(hidden=16, max_epochs=1, random_state=0).fit(A, B)
    >>> streamer = vae.stream(block_size=512, alpha=0.5, source=0)
    >>> streamer.process(A[0][:512]).shape
    (512,)
    >>> round(streamer.latency_ms)
    627
    """

    def __init__(self, module):
        self.module = module
        self.block_size = module.block_size
        self.sample_rate = module.sample_rate
        self.lookahead_samples = module.delay_samples
        self.latency_samples = self.lookahead_samples + self.block_size
        self.latency_ms = 1000.0 * self.latency_samples / self.sample_rate

    @property
    def alpha(self):
        """The timbre rendered from the next block on; settable."""
        return self.module.alpha

    @alpha.setter
    def alpha(self, value):
        self.module.alpha = check_alpha(value)

    def process(self, block):
        """Convert the next ``block_size`` samples.

        Parameters
        ----------
        block : array-like of shape (block_size,)
            Mono float samples.

        Returns
        -------
        ndarray of shape (block_size,), float32
        """
        samples = _check_block(block, self.block_size)
        device = self.module.output.device
        with torch.no_grad():
            out = self.module(torch.as_tensor(samples, device=device))
        return out.cpu().numpy()

    def reset(self):
        """Start a new stream: every buffer and phase back to its initial state."""
        self.module.reset()


def _check_block(block, block_size):
    """``block`` as a float32 array of ``block_size`` mono samples, or an
    error that says what is wrong."""
    samples = np.asarray(block)
    if samples.dtype.kind not in "fiu":
        raise TypeError(f"block has dtype {samples.dtype}; pass float samples.")
    if samples.dtype.kind in "iu":
        raise TypeError(f"block has integer dtype {samples.dtype}; pass float "
                        "samples in [-1, 1] (divide PCM by its full scale).")
    if samples.ndim != 1:
        raise ValueError(f"block has shape {samples.shape}; a stream is mono: "
                         "pass a 1-D block (mix stereo down first).")
    if len(samples) != block_size:
        raise ValueError(f"block has {len(samples)} samples but this stream was "
                         f"made with block_size={block_size}; pass blocks of that "
                         "length, or make a new stream.")
    if not np.isfinite(samples).all():
        raise ValueError("block holds NaN or infinite samples; pass finite audio.")
    return samples.astype(np.float32)


def make_streamer(model, *, block_size, alpha, source, peak=None):
    """A :class:`Streamer` of a fitted model; see :meth:`TimbreVAE.stream`."""
    check_is_fitted(model)
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral) or (
            block_size < 1):
        raise ValueError(f"block_size={block_size!r} is not a positive integer; "
                         "pass the samples per block, e.g. 512.")
    alpha = check_alpha(model.alpha if alpha is None else alpha)
    source = check_source(source, model.classes_)
    if model.spectrogram_.mel_basis_ is not None:
        raise ValueError(
            "this model was fitted on a mel spectrogram "
            f"(n_mels={model.spectrogram_.n_mels}), whose pitch features come "
            "from an iterative inversion of the mel scale; streaming needs a "
            "linear-frequency spectrogram: fit with "
            "SpectrogramTransformer(n_mels=None).")
    peak = stream_peak(model.spectrogram_) if peak is None else peak
    model._ensure_device()
    model._set_train_mode(False)
    return Streamer(BlockConverter(model, int(block_size), alpha, source, peak))
