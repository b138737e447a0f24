"""Network blocks the timbre models are built from.

Shapes follow the rest of the package: ``(batch, channels, n_frames)``, time
last, so 1-D convolutions run along time.
"""

import torch
from torch import nn
from torch.nn import functional as F

from ._harmonic_skirt import HarmonicSkirt
from ._pitch_table import PitchTable

__all__ = [
    "ConvEncoder",
    "FiLMDecoder",
    "HarmonicRenderer",
    "TimbreCode",
    "GradientReversal",
    "FrameClassifier",
    "GatedResidualGenerator",
    "PatchDiscriminator",
]


def _reach(conv):
    """Frames a stride-1 1-D convolution adds to its input's receptive field."""
    return (conv.kernel_size[0] - 1) * conv.dilation[0]


def context_frames(receptive_field):
    """Frames on each side of a frame that a centred receptive field spans."""
    return (receptive_field - 1) // 2


class CausalConv1d(nn.Conv1d):
    """A 1-D convolution whose output frame reads only its own and earlier
    frames: the input is zero-padded on the left alone, so a stream needs no
    lookahead to compute it."""

    def __init__(self, n_inputs, n_outputs, kernel_size, dilation=1):
        super().__init__(n_inputs, n_outputs, kernel_size, dilation=dilation)

    def forward(self, x):
        return super().forward(F.pad(x, (_reach(self), 0)))


def time_conv(n_inputs, n_outputs, kernel_size, *, dilation=1, causal=False):
    """A stride-1 convolution along time, centred on its output frame or,
    when ``causal``, ending on it."""
    if causal:
        return CausalConv1d(n_inputs, n_outputs, kernel_size, dilation=dilation)
    return nn.Conv1d(n_inputs, n_outputs, kernel_size, dilation=dilation,
                     padding=(kernel_size - 1) // 2 * dilation)


class FrameNorm(nn.Module):
    """LayerNorm over channels, frame by frame, for (batch, channels, time)."""

    def __init__(self, channels):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, h):
        return self.norm(h.transpose(1, 2)).transpose(1, 2)


class ConvStack(nn.Module):
    """Residual 1-D convolutions with growing dilation (a WaveNet-style context)."""

    def __init__(self, channels, n_layers, kernel_size=3, causal=False):
        super().__init__()
        self.layers = nn.ModuleList(
            time_conv(channels, channels, kernel_size, dilation=2**i, causal=causal)
            for i in range(n_layers)
        )
        # Normalise over channels within each frame only: statistics over time
        # would make a frame's output depend on how long the chunk around it is.
        self.norms = nn.ModuleList(FrameNorm(channels) for _ in range(n_layers))

    @property
    def receptive_field(self):
        """Frames of input that one output frame depends on."""
        return 1 + sum(_reach(conv) for conv in self.layers)

    def forward(self, h, film=None):
        for i, (conv, norm) in enumerate(zip(self.layers, self.norms)):
            update = norm(conv(F.gelu(h)))
            if film is not None:
                gamma, beta = film[i]
                update = update * (1 + gamma[..., None]) + beta[..., None]
            h = h + update
        return h


class ConvEncoder(nn.Module):
    """Spectrogram frames -> Gaussian posterior over a per-frame content latent."""

    def __init__(self, n_freq, hidden, latent_dim, n_layers=3, causal=False):
        super().__init__()
        self.inp = time_conv(n_freq, hidden, 5, causal=causal)
        self.body = ConvStack(hidden, n_layers, causal=causal)
        self.out = nn.Conv1d(hidden, 2 * latent_dim, 1)

    @property
    def receptive_field(self):
        """Frames of spectrogram that one latent frame depends on."""
        return self.body.receptive_field + _reach(self.inp) + _reach(self.out)

    def forward(self, spec):
        h = self.body(self.inp(spec))
        mean, log_var = self.out(F.gelu(h)).chunk(2, dim=1)
        return mean, log_var.clamp(-10, 6)


class TimbreCode(nn.Module):
    """A continuous timbre code: alpha in [0, 1] slides between two learnt points.

    The code is linear in alpha, so every alpha is one point of one path from
    instrument A's code to instrument B's, which the decoder turns into one
    voice rather than a mix of two.
    """

    def __init__(self, dim):
        super().__init__()
        self.endpoints = nn.Parameter(torch.randn(2, dim) * 0.5)

    def forward(self, alpha):
        alpha = alpha.reshape(-1, 1)
        return (1 - alpha) * self.endpoints[0] + alpha * self.endpoints[1]


class FiLMDecoder(nn.Module):
    """Content features and latent -> synthesiser controls, modulated by a code.

    Feature-wise linear modulation (Perez et al. 2018) injects the timbre code
    into every layer, as conditional VAEs for instrument timbre do. With
    ``pitch_table``, a :class:`~sktimbre._pitch_table.PitchTable` adds each
    timbre's own offset per semitone of the pitch (the first input row).
    """

    def __init__(self, n_inputs, hidden, code_dim, n_outputs, n_layers=4,
                 causal=False, pitch_table=False):
        super().__init__()
        self.inp = time_conv(n_inputs, hidden, 3, causal=causal)
        self.body = ConvStack(hidden, n_layers, causal=causal)
        self.film = nn.Linear(code_dim, 2 * hidden * n_layers)
        self.out = nn.Conv1d(hidden, n_outputs, 1)
        # The first input row is the pitch, log2(f0 / 440).
        self.pitch_table = PitchTable(code_dim, n_outputs) if pitch_table else None
        self.n_layers = n_layers
        self.hidden = hidden

    def __setstate__(self, state):
        # A decoder pickled before pitch_table existed has none.
        state.get("_modules", {}).setdefault("pitch_table", None)
        super().__setstate__(state)

    @property
    def receptive_field(self):
        """Frames of input that one output frame depends on."""
        return self.body.receptive_field + _reach(self.inp) + _reach(self.out)

    def forward(self, inputs, code):
        film = self.film(code).reshape(-1, self.n_layers, 2, self.hidden)
        film = [(film[:, i, 0], film[:, i, 1]) for i in range(self.n_layers)]
        h = self.body(self.inp(inputs), film)
        controls = self.out(F.gelu(h))
        if self.pitch_table is not None:
            controls = controls + self.pitch_table(inputs[:, 0], code)
        return controls


class HarmonicRenderer(nn.Module):
    """Render a magnitude spectrogram from f0, harmonic amplitudes and noise.

    Each harmonic k * f0 below Nyquist adds the main lobe of the Hann window's
    transform at its exact (fractional) bin; a smooth noise floor fills the
    rest. Pitch is kept by construction: energy can only appear at multiples of
    the input's f0.

    Parameters
    ----------
    sr, n_fft : int
        STFT settings of the target spectrogram.
    n_harmonics : int
        Harmonics rendered per frame.
    n_noise_bands : int
        Bands of the noise envelope, spread linearly in frequency and
        interpolated to bins.
    skirt_bins : int, default=0
        Bins on each side of every harmonic over which a learnt
        :class:`~sktimbre._harmonic_skirt.HarmonicSkirt` is added to its
        main lobe; 0 renders the main lobe alone.
    """

    _TAPS = 5  # main lobe of a Hann window spans +-2 bins

    def __init__(self, sr, n_fft, n_harmonics, n_noise_bands, skirt_bins=0):
        super().__init__()
        self.skirt = HarmonicSkirt(skirt_bins) if skirt_bins > 0 else None
        self.sr = sr
        self.n_fft = n_fft
        self.n_harmonics = n_harmonics
        self.n_bins = n_fft // 2 + 1
        self.register_buffer(
            "harmonic_numbers", torch.arange(1, n_harmonics + 1, dtype=torch.float32)
        )
        band_pos = torch.linspace(0, n_noise_bands - 1, self.n_bins)
        self.register_buffer("noise_interp",
                             linear_interp_matrix(band_pos, n_noise_bands))

    def __setstate__(self, state):
        # A renderer pickled before the skirt existed has none.
        state.get("_modules", {}).setdefault("skirt", None)
        super().__setstate__(state)

    @staticmethod
    def _lobe(delta):
        # |sinc(d) / (1 - d^2)| is the Hann window's transform; 0.5 at d = +-1.
        near_one = (delta.abs() - 1).abs() < 1e-4
        safe = torch.where(near_one, torch.full_like(delta, 0.5), delta)
        value = torch.sinc(safe) / (1 - safe**2)
        return torch.where(near_one, torch.full_like(delta, 0.5), value).abs()

    def forward(self, f0, harmonic_log_amp, noise_log_amp):
        """f0 (B, T) in Hz; harmonic_log_amp (B, K, T); noise_log_amp (B, N, T)."""
        batch, n_frames = f0.shape
        harmonics = self.harmonic_numbers[None, :, None]
        peak = f0[:, None, :] * harmonics * self.n_fft / self.sr
        audible = peak < self.n_bins - 3
        amplitude = capped_exp(harmonic_log_amp) * audible
        base = peak.floor() - (self._TAPS // 2 - 1)
        magnitude = torch.zeros(batch, n_frames, self.n_bins, device=f0.device,
                                dtype=amplitude.dtype)
        for tap in range(self._TAPS):
            index = (base + tap).clamp(0, self.n_bins - 1)
            value = amplitude * self._lobe(index - peak)
            magnitude.scatter_add_(
                2, index.long().transpose(1, 2), value.transpose(1, 2)
            )
        if self.skirt is not None:
            magnitude = magnitude + self.skirt(magnitude)
        noise_amp = capped_exp(noise_log_amp).transpose(1, 2)
        noise = noise_amp @ self.noise_interp
        return (magnitude + noise).transpose(1, 2)


def capped_exp(log_amplitude, cap: float = 15.0):
    """``exp`` of synthesiser controls capped at ``cap``, so that float32
    does not overflow, with the gradient they would have at the cap.

    Above a plain clamp a control gets no gradient at all: one pushed past
    it stays there whatever the losses say, as the fundamental of the causal
    fit on timgm6mb did, some 90 dB too loud (docs/design.md). The value is
    the clamp's; only the gradient passes.
    """
    capped = log_amplitude.clamp(max=cap)
    return torch.exp(log_amplitude + (capped - log_amplitude).detach())


def linear_interp_matrix(positions, n_points):
    """Matrix M with ``values @ M`` = values interpolated at ``positions``."""
    low = positions.floor().long().clamp(0, n_points - 2)
    frac = positions - low
    matrix = torch.zeros(n_points, len(positions))
    cols = torch.arange(len(positions))
    matrix[low, cols] = 1 - frac
    matrix[low + 1, cols] += frac
    return matrix


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.weight * grad, None


class GradientReversal(nn.Module):
    """Identity forward, negated gradient backward (Ganin & Lempitsky, 2015)."""

    def __init__(self, weight=1.0):
        super().__init__()
        self.weight = weight

    def forward(self, x):
        return _ReverseGrad.apply(x, self.weight)


class FrameClassifier(nn.Module):
    """Per-frame logit of "domain B" from a (B, C, T) feature map."""

    def __init__(self, n_inputs, hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_inputs, hidden, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(hidden, hidden, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(hidden, 1, 1),
        )

    @property
    def receptive_field(self):
        """Frames of input that one logit depends on."""
        return 1 + sum(_reach(layer) for layer in self.net
                       if isinstance(layer, nn.Conv1d))

    def forward(self, features):
        return self.net(features).squeeze(1)


def kl_divergence(mean, log_var):
    """KL(q || N(0, I)) per latent dimension and frame, averaged."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).mean()


def frame_loudness(log_magnitude):
    """Loudness of each frame of log magnitudes ``(batch, n_rows, T)`` in
    nepers: the log of the frame's summed power, halved."""
    return 0.5 * torch.logsumexp(2 * log_magnitude, dim=1)


def init_output_bias(layer, value):
    """Start a log-amplitude head near a sensible level so training starts close."""
    with torch.no_grad():
        layer.bias.fill_(value)
        layer.weight.mul_(0.1)



class GatedConv(nn.Module):
    """1-D convolution with a gated linear unit (Dauphin et al. 2017).

    The gate lets each channel pass or hold back per frame, which is how the
    CycleGAN-VC generators keep the sequential structure of the input.
    """

    def __init__(self, n_inputs, n_outputs, kernel_size, dilation=1):
        super().__init__()
        self.conv = nn.Conv1d(n_inputs, 2 * n_outputs, kernel_size,
                              dilation=dilation,
                              padding=(kernel_size - 1) // 2 * dilation)
        self.norm = FrameNorm(2 * n_outputs)

    def forward(self, h):
        return F.glu(self.norm(self.conv(h)), dim=1)


class GatedResidualGenerator(nn.Module):
    """Spectrogram -> spectrogram of the other instrument, as a residual.

    Frequency rows are the channels of 1-D gated convolutions along time; the
    output is a change added to the input, so the input's harmonics (its
    pitch) pass through unless the network learns to move them, and half a
    change is a point on the straight line between input and translation.

    The change is a gain and an offset per row and frame, ``gain * spec +
    offset``, both read from the network's state. The offset moves the
    spectral envelope; the gain scales each row's distance from its mean
    level, which is how one instrument's strong upper harmonics become
    another's weak ones wherever the harmonics of a note fall: the bins that
    hold them are the ones above the mean. An offset alone would have to
    know the positions of the harmonics of every pitch from a few hidden
    channels.

    A fixed per-row offset, the ``prior`` buffer (zero unless set), is
    added to every frame's change: the part of the translation a model
    knows before training (its match-EQ filter), which the network then
    refines rather than learns.

    Parameters
    ----------
    n_freq : int
        Rows of the spectrogram.
    width : int
        Channels of the residual blocks.
    n_residual_blocks : int
        Gated residual blocks; dilations cycle 1, 2, 4 so that context grows
        without downsampling time (downsampling would make chunked conversion
        differ from whole-piece conversion).
    draws_harmonics : bool, default=False
        Also read a third term from the state, a weight per row and frame
        of the input's :func:`~sktimbre._harmonic_comb.harmonic_comb`
        (``gain * spec + offset + weight * comb``): a row is then raised or
        lowered where a harmonic of the input's pitch falls even when the
        input has next to nothing there to scale. Every call then takes the
        comb.
    """

    _DILATIONS = (1, 2, 4)
    _KERNEL = 5

    def __init__(self, n_freq, width, n_residual_blocks, draws_harmonics=False):
        super().__init__()
        self.draws_harmonics = draws_harmonics
        # Frequency rows are mixed frame by frame at both ends; time context
        # comes from the residual blocks alone.
        self.inp = GatedConv(n_freq, width, 1)
        self.blocks = nn.ModuleList(
            GatedConv(width, width, self._KERNEL,
                      self._DILATIONS[i % len(self._DILATIONS)])
            for i in range(n_residual_blocks)
        )
        self.out = nn.Conv1d(width, (3 if draws_harmonics else 2) * n_freq, 1)
        # Start as the identity: gain and offset begin at zero and grow as
        # the adversary asks for them.
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.register_buffer("prior", torch.zeros(n_freq))

    @property
    def receptive_field(self):
        """Frames of input that one output frame depends on."""
        layers = [self.inp.conv, *(block.conv for block in self.blocks), self.out]
        return 1 + sum(_reach(conv) for conv in layers)

    def learnt_change(self, spec, comb=None):
        """The network's part of the residual for ``spec`` (batch, n_freq,
        T): the change beyond the fixed ``prior``. ``comb``, of the same
        shape, is the input's harmonic comb, needed when the generator
        ``draws_harmonics`` and ignored otherwise."""
        h = self.inp(spec)
        for block in self.blocks:
            h = h + block(h)
        if not self.draws_harmonics:
            gain, offset = self.out(h).chunk(2, dim=1)
            return gain * spec + offset
        if comb is None or comb.shape != spec.shape:
            raise ValueError(
                "this generator draws harmonics: pass the input's harmonic comb, "
                f"shaped like the spectrogram {tuple(spec.shape)}.")
        gain, offset, weight = self.out(h).chunk(3, dim=1)
        return gain * spec + offset + weight * comb

    def change(self, spec, comb=None):
        """The residual the generator adds to ``spec`` (batch, n_freq, T):
        the fixed prior and the learnt change."""
        return self.learnt_change(spec, comb) + self.prior[:, None]

    def forward(self, spec, comb=None):
        return spec + self.change(spec, comb)


class PatchDiscriminator(nn.Module):
    """Least-squares real/fake scores for overlapping patches of frames.

    Each output judges about ``receptive_field`` frames with every frequency
    row in view: a timbre is a spectral shape and its short-term motion, so a
    patch of time with the whole spectrum is what to judge, and many patch
    scores per crop give a denser signal than one score (PatchGAN, Isola et
    al. 2017).
    """

    def __init__(self, n_freq, hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_freq, hidden, 5, stride=2, padding=2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, 2 * hidden, 5, stride=2, padding=2),
            FrameNorm(2 * hidden),
            nn.LeakyReLU(0.2),
            nn.Conv1d(2 * hidden, 2 * hidden, 5, stride=2, padding=2),
            FrameNorm(2 * hidden),
            nn.LeakyReLU(0.2),
            nn.Conv1d(2 * hidden, 1, 3, padding=1),
        )

    def forward(self, spec):
        return self.net(spec).squeeze(1)
