"""Additive harmonic-plus-noise synthesis of audio from per-frame controls.

:class:`AdditiveSynth` turns the controls that
:class:`~sktimbre._nn.HarmonicRenderer` renders into a magnitude spectrogram
(the input's f0, each harmonic's amplitude, a noise envelope) into a
waveform whose STFT has that magnitude, without a phase to reconstruct.
It synthesises a block of frames at a time from an explicit state, so a
caller can stream it, and it compiles with ``torch.jit.script``.
"""

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ._dsp import hann_window
from ._nn import linear_interp_matrix

__all__ = ["AdditiveSynth", "SynthState"]

# Median over frames of |STFT| of Gaussian noise over its RMS: sqrt(ln 4 / 2).
# The decoder learnt its noise envelope under an L1 loss on log magnitudes,
# which fits the median, so the noise is made that loud at its median.
_RAYLEIGH_MEDIAN = math.sqrt(math.log(4.0) / 2.0)
# Constants of the integer hash that draws the noise's phases (the
# multipliers of Murmur3's finaliser, kept below 2**31 so that a product of
# two 32-bit values stays inside int64).
_HASH_MULTIPLIERS = (0x7FEB352D, 0x046F23D5)
_HASH_MASK = 0xFFFFFFFF
# Frames :meth:`AdditiveSynth.forward` synthesises at once.
_FORWARD_BLOCK = 512


class SynthState(NamedTuple):
    """What a block of frames leaves for the next one.

    Attributes
    ----------
    phase : Tensor of shape (batch,), float64
        The fundamental's phase, in radians modulo 2 pi, at the centre of
        the last frame synthesised.
    f0 : Tensor of shape (batch,)
        That frame's f0, in Hz.
    amplitude : Tensor of shape (batch, n_harmonics)
        That frame's harmonic amplitudes (linear, in the waveform's units).
    harmonic_delay : Tensor of shape (batch, latency - hop_length)
        Harmonic samples made but not yet due.
    noise_tail : Tensor of shape (batch, n_fft - hop_length)
        The overlap-add tail of the noise grains already made.
    noise_delay : Tensor of shape (batch, latency - n_fft // 2)
        Noise samples complete but not yet due.
    frame : Tensor of shape (), int64
        Index of the next frame, which seeds its noise.
    started : Tensor of shape (), bool
        Whether a frame was synthesised; before the first, the previous
        frame's f0 and amplitudes are taken to be the first frame's.
    """

    phase: torch.Tensor
    f0: torch.Tensor
    amplitude: torch.Tensor
    harmonic_delay: torch.Tensor
    noise_tail: torch.Tensor
    noise_delay: torch.Tensor
    frame: torch.Tensor
    started: torch.Tensor


class AdditiveSynth(nn.Module):
    """Phase-continuous harmonic oscillators plus filtered noise.

    Per frame it reads the f0 in Hz, the natural-log amplitudes of
    ``n_harmonics`` harmonics and the natural-log noise envelope over
    ``n_noise_bands`` bands, in the units of :class:`HarmonicRenderer`: the
    magnitude that a harmonic's peak, or the noise at a bin, has in the
    Hann-windowed STFT (``n_fft``, ``hop_length``, ``win_length``). Frame
    ``n`` is centred on sample ``n * hop_length``, as the STFT's frames are.

    - Harmonics: f0 and amplitudes are interpolated linearly between frame
      centres to the sample rate; each harmonic's phase is the integral of
      its frequency, so it runs on without a jump from frame to frame and
      from block to block. A harmonic above the renderer's last audible bin,
      or above Nyquist at any sample, is silent. A sinusoid of amplitude
      ``a`` peaks at ``a * sum(window) / 2`` in the STFT, so a peak
      magnitude ``m`` is played at ``a = 2 m / sum(window)``.
    - Noise: per frame, a spectrum of the envelope's magnitude and a phase
      drawn by hashing (seed, frame, bin) is inverse-transformed, windowed
      and overlap-added (Griffin and Lim's weighted overlap-add). Drawing by
      hash makes frame ``n``'s noise the same whichever block it falls in,
      on the CPU or a GPU.

    Output lags the frames by ``latency`` samples (``max(n_fft // 2,
    hop_length)``): a noise grain reaches ``n_fft // 2`` samples either side
    of its frame's centre, and a harmonic sample needs the frames either side
    of it. :meth:`forward` removes the lag; :meth:`synthesize_block` keeps it.

    Parameters
    ----------
    sr, n_fft, hop_length : int
        Sample rate and STFT settings of the spectrogram the controls describe.
    n_harmonics, n_noise_bands : int
        Controls per frame, as :class:`~sktimbre._nn.HarmonicRenderer` reads.
    win_length : int, optional
        Hann window length; ``n_fft`` when omitted.
    seed : int, default=0
        Seed of the noise's phases.

    Examples
    --------
    >>> import torch
    >>> from sktimbre._synth import AdditiveSynth
    >>> synth = AdditiveSynth(22050, 1024, 256, n_harmonics=4, n_noise_bands=8)
    >>> f0 = torch.full((1, 20), 220.0)
    >>> harmonic = torch.full((1, 4, 20), 3.0)
    >>> noise = torch.full((1, 8, 20), -12.0)
    >>> synth(f0, harmonic, noise, length=4864).shape
    torch.Size([1, 4864])
    """

    def __init__(self, sr: int, n_fft: int, hop_length: int, n_harmonics: int,
                 n_noise_bands: int, win_length: int = 0, seed: int = 0):
        super().__init__()
        win_length = win_length or n_fft
        self.sr = int(sr)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.n_harmonics = int(n_harmonics)
        self.n_bins = self.n_fft // 2 + 1
        self.seed = int(seed) & _HASH_MASK
        self.latency = max(self.n_fft // 2, self.hop_length)
        # Module attributes, not globals, so that TorchScript sees them.
        self.forward_block = _FORWARD_BLOCK
        self.hash_multipliers = _HASH_MULTIPLIERS
        self.hash_mask = _HASH_MASK
        window = padded_hann(win_length, self.n_fft)
        self.register_buffer("window", window)
        self.harmonic_gain = 2.0 / float(window.sum())
        # Noise of RMS s per sample has E|X|^2 = s^2 sum(w^2) in the STFT; a
        # grain whose bins' real and imaginary parts are uniform in [-1, 1)
        # times m has variance (2/3) m^2 / n_fft per sample, and windowed
        # grains overlap-add to sum(w^2) / hop of it.
        energy = float((window**2).sum())
        self.noise_gain = (1.5 * self.hop_length * self.n_fft) ** 0.5 / energy / (
            _RAYLEIGH_MEDIAN)
        self.register_buffer(
            "harmonic_numbers", torch.arange(1, n_harmonics + 1, dtype=torch.float32))
        band_pos = torch.linspace(0, n_noise_bands - 1, self.n_bins)
        self.register_buffer("noise_interp",
                             linear_interp_matrix(band_pos, n_noise_bands))
        # Where the frame's samples lie between its centre and the next one's.
        self.register_buffer(
            "ramp", torch.arange(self.hop_length, dtype=torch.float32) / hop_length)

    def initial_state(self, batch: int, device: torch.device) -> SynthState:
        """The state before the first frame: silence, phase 0, frame 0."""
        zeros = torch.zeros(batch, device=device)
        return SynthState(
            torch.zeros(batch, device=device, dtype=torch.float64),
            zeros,
            torch.zeros(batch, self.n_harmonics, device=device),
            torch.zeros(batch, self.latency - self.hop_length, device=device),
            torch.zeros(batch, self.n_fft - self.hop_length, device=device),
            torch.zeros(batch, self.latency - self.n_fft // 2, device=device),
            torch.zeros((), dtype=torch.int64, device=device),
            torch.zeros((), dtype=torch.bool, device=device),
        )

    def forward(self, f0: torch.Tensor, harmonic_log_amp: torch.Tensor,
                noise_log_amp: torch.Tensor, length: int) -> torch.Tensor:
        """Audio ``(batch, length)`` of the frames, sample 0 at frame 0's centre.

        f0 (B, T) in Hz; harmonic_log_amp (B, K, T); noise_log_amp (B, N, T).
        The last frame is held to the end of ``length``.
        """
        state = self.initial_state(f0.shape[0], f0.device)
        # The lag, and the samples after the last frame's centre, come out of
        # frames that repeat the last one.
        needed = length + self.latency - f0.shape[-1] * self.hop_length
        extra = max(0, -(-needed // self.hop_length))
        if extra > 0:
            f0 = torch.cat([f0, f0[:, -1:].expand(-1, extra)], dim=-1)
            harmonic_log_amp = _hold_last(harmonic_log_amp, extra)
            noise_log_amp = _hold_last(noise_log_amp, extra)
        # Blocks bound the memory of the (batch, harmonic, sample) products.
        blocks = []
        for start in range(0, f0.shape[-1], self.forward_block):
            stop = start + self.forward_block
            audio, state = self.synthesize_block(
                f0[:, start:stop], harmonic_log_amp[..., start:stop],
                noise_log_amp[..., start:stop], state)
            blocks.append(audio)
        return torch.cat(blocks, dim=-1)[:, self.latency:self.latency + length]

    def synthesize_block(self, f0: torch.Tensor, harmonic_log_amp: torch.Tensor,
                         noise_log_amp: torch.Tensor, state: SynthState):
        """Synthesise the next ``T`` frames: ``T * hop_length`` samples and the
        state that continues them.

        The samples run from ``latency`` samples before the block's first
        frame's centre; blocks of any sizes concatenate to :meth:`forward`'s
        output (before it drops the first ``latency`` samples).

        Returns
        -------
        audio : Tensor of shape (batch, T * hop_length)
        state : SynthState
        """
        amplitude = self._amplitudes(f0, harmonic_log_amp)
        f0 = self._held_through_silence(f0, amplitude, state)
        harmonic, phase, last_f0, last_amp = self._harmonics(f0, amplitude, state)
        harmonic, harmonic_delay = _delay(harmonic, state.harmonic_delay)
        noise, tail = self._noise(noise_log_amp, state)
        noise, noise_delay = _delay(noise, state.noise_delay)
        frame = state.frame + f0.shape[-1]
        started = torch.ones_like(state.started)
        new_state = SynthState(phase, last_f0, last_amp, harmonic_delay, tail,
                               noise_delay, frame, started)
        return harmonic + noise, new_state

    def _held_through_silence(self, f0: torch.Tensor, amplitude: torch.Tensor,
                              state: SynthState) -> torch.Tensor:
        """``f0`` with each silent frame's (no harmonic amplitude) replaced
        by the last sounding frame's, from ``state`` at a block's start.

        A silent frame plays nothing, but its f0 still advances the phase of
        every later frame. The tracker's f0 of a near-silent frame is noise
        that rounding moves (by a hertz between a stream's tracker and the
        offline one on one processor), and that would shift every later
        note's phase; the held f0 does not depend on it."""
        sounding = amplitude.amax(dim=1) > 0
        index = torch.arange(f0.shape[-1], device=f0.device).expand_as(f0)
        last = torch.cummax(torch.where(sounding, index, torch.full_like(index, -1)),
                            dim=-1)[0]
        previous = torch.where(state.started, state.f0, f0[:, 0])
        return torch.where(last >= 0, f0.gather(-1, last.clamp(min=0)),
                           previous[:, None].expand_as(f0))

    def _amplitudes(self, f0: torch.Tensor, harmonic_log_amp: torch.Tensor):
        """Linear waveform amplitudes (B, K, T), silent where the renderer
        puts no peak (within three bins of Nyquist)."""
        peak = f0[:, None, :] * self.harmonic_numbers[None, :, None] * (
            self.n_fft / self.sr)
        audible = peak < self.n_bins - 3
        return torch.exp(harmonic_log_amp.clamp(max=15.0)) * audible * (
            self.harmonic_gain)

    def _harmonics(self, f0: torch.Tensor, amplitude: torch.Tensor,
                   state: SynthState):
        """Oscillator samples from the previous frame's centre to this
        block's last frame's centre, and that frame's phase, f0, amplitudes."""
        previous_f0 = torch.where(state.started, state.f0, f0[:, 0])
        previous_amp = torch.where(state.started, state.amplitude, amplitude[:, :, 0])
        start_f0 = torch.cat([previous_f0[:, None], f0[:, :-1]], dim=-1)
        start_amp = torch.cat([previous_amp[:, :, None], amplitude[:, :, :-1]], dim=-1)
        # Phase at each interval's start: the integral of the linear f0 ramp,
        # summed in float64 so long pieces keep their phase to the sample.
        step = (start_f0 + f0).double() * (math.pi * self.hop_length / self.sr)
        ends = state.phase[:, None] + torch.cumsum(step, dim=-1)
        starts = torch.cat([state.phase[:, None], ends[:, :-1]], dim=-1)
        starts = torch.remainder(starts, 2 * math.pi)
        # The fundamental's phase at each sample: the interval's start plus
        # 2 pi / sr * (f_a j + (f_b - f_a) j^2 / 2H) at its j-th sample.
        ramp = self.ramp
        j = ramp * self.hop_length
        within = (2 * math.pi / self.sr) * (
            start_f0[..., None] * j + (f0 - start_f0)[..., None] * (j * ramp / 2))
        theta = starts.float()[..., None] + within  # (B, T, H)
        # Silent over an interval where the harmonic passes Nyquist.
        highest = torch.maximum(start_f0, f0)[:, None, :] * self.harmonic_numbers[
            None, :, None]
        below = highest < self.sr / 2
        start_amp = start_amp * below
        end_amp = amplitude * below
        # Harmonics that pass Nyquist over every interval need no samples.
        lowest = float(torch.maximum(start_f0, f0).min())
        count = int((self.harmonic_numbers * lowest < self.sr / 2).sum())
        audio = self._oscillators(theta, start_amp, end_amp, count)
        last_phase = torch.remainder(ends[:, -1], 2 * math.pi)
        return (audio.reshape(audio.shape[0], -1), last_phase, f0[:, -1],
                amplitude[:, :, -1])

    def _oscillators(self, theta: torch.Tensor, start_amp: torch.Tensor,
                     end_amp: torch.Tensor, count: int) -> torch.Tensor:
        """Sum over harmonics k of amp_k * sin(k theta), (B, T, H), the
        amplitudes ramping linearly from ``start_amp`` to ``end_amp`` (B, K, T)
        over each interval; harmonics past the first ``count`` are silent.

        sin(k theta) comes from the Chebyshev recurrence
        s_{k+1} = 2 cos(theta) s_k - s_{k-1}: one multiply-add per harmonic
        and sample instead of a sine, the cost that decides the speed.
        Its float32 rounding grows with k squared, about 1e-4 at the 60th.
        """
        twice_cos = 2 * torch.cos(theta)
        previous = torch.zeros_like(theta)
        current = torch.sin(theta)
        at_start = torch.zeros_like(theta)
        at_end = torch.zeros_like(theta)
        for k in range(count):
            at_start.addcmul_(start_amp[:, k, :, None], current)
            at_end.addcmul_(end_amp[:, k, :, None], current)
            # In place: the buffer of s_{k-1} becomes s_{k+1}.
            previous = previous.neg_().addcmul_(twice_cos, current)
            previous, current = current, previous
        return at_start + (at_end - at_start) * self.ramp

    def _noise(self, noise_log_amp: torch.Tensor, state: SynthState):
        """Overlap-added noise grains: the samples the block completes, from
        ``n_fft // 2`` before its first frame's centre, and the new tail."""
        batch, _, n_frames = noise_log_amp.shape
        magnitude = torch.exp(noise_log_amp.clamp(max=15.0)).transpose(1, 2)
        magnitude = magnitude @ self.noise_interp  # (B, T, n_bins)
        frames = state.frame + torch.arange(n_frames, device=magnitude.device)
        real, imag = self._noise_values(frames)  # (T, n_bins) each
        magnitude = magnitude * self.noise_gain
        spectrum = torch.complex(magnitude * real, magnitude * imag)
        grains = torch.fft.irfft(spectrum, n=self.n_fft, dim=-1) * self.window
        summed = self._overlap_add(grains)
        carried = state.noise_tail.shape[-1]
        summed = torch.cat([summed[:, :carried] + state.noise_tail,
                            summed[:, carried:]], dim=-1)
        done = n_frames * self.hop_length
        return summed[:, :done], summed[:, done:]

    def _overlap_add(self, grains: torch.Tensor) -> torch.Tensor:
        """Grains (B, T, n_fft) added ``hop_length`` apart: (B, (T - 1) * hop
        + n_fft). With a hop that divides n_fft, as many shifted adds as
        grains overlap, cheaper than ``fold``."""
        batch, n_frames, _ = grains.shape
        hop = self.hop_length
        if self.n_fft % hop != 0:
            total = (n_frames - 1) * hop + self.n_fft
            summed = F.fold(grains.transpose(1, 2), output_size=(1, total),
                            kernel_size=(1, self.n_fft), stride=(1, hop))
            return summed.reshape(batch, total)
        overlap = self.n_fft // hop
        parts = grains.reshape(batch, n_frames, overlap, hop)
        summed = grains.new_zeros(batch, n_frames + overlap - 1, hop)
        for part in range(overlap):
            summed[:, part:part + n_frames] += parts[:, :, part]
        return summed.reshape(batch, -1)

    def _mix(self, key: torch.Tensor) -> torch.Tensor:
        """A 32-bit integer hash of each value of ``key`` (int64)."""
        key = key & self.hash_mask
        for multiplier in self.hash_multipliers:
            key = key ^ (key >> 16)
            key = (key * multiplier) & self.hash_mask
        return key ^ (key >> 16)

    def _noise_values(self, frames: torch.Tensor):
        """Real and imaginary parts (T, n_bins), uniform in [-1, 1), of each
        bin's noise: a hash of the seed, the absolute frame index and the
        bin, so there is no generator state to carry."""
        bins = torch.arange(self.n_bins, device=frames.device, dtype=torch.int64)
        # Frames and bins are hashed apart (few values) and mixed once per
        # bin of each frame, where the cost is.
        frame_keys = self._mix(frames ^ self.seed)
        bin_keys = self._mix(bins + self.hash_mask // 3)
        key = frame_keys[:, None] ^ bin_keys[None, :]
        key = (key * self.hash_multipliers[1]) & self.hash_mask
        key = key ^ (key >> 15)
        # 16 bits for each part: plenty for noise.
        real = (key >> 16).float() * (2.0 / 65536) - 1
        imag = (key & 0xFFFF).float() * (2.0 / 65536) - 1
        return real, imag


def _hold_last(controls: torch.Tensor, extra: int) -> torch.Tensor:
    """``controls`` (B, C, T) with its last frame repeated ``extra`` times."""
    return torch.cat([controls, controls[..., -1:].expand(-1, -1, extra)], dim=-1)


def _delay(samples: torch.Tensor, pending: torch.Tensor):
    """``samples`` delayed by ``pending``'s length: what is now due, and what
    is left pending."""
    joined = torch.cat([pending, samples], dim=-1)
    due = samples.shape[-1]
    return joined[:, :due], joined[:, due:]


def padded_hann(win_length: int, n_fft: int) -> torch.Tensor:
    """The STFT's periodic Hann window, zero-padded to ``n_fft`` and centred."""
    window = hann_window(win_length, None)
    left = (n_fft - win_length) // 2
    return F.pad(window, (left, n_fft - win_length - left))

