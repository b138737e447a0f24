"""A fitted TimbreVAE's conversion chain from audio samples to synthesiser
controls, block by block.

Offline conversion reads two things from the whole clip: the domain
classifier's mean verdict (the source alpha) and the clip's largest
magnitude (the scale of the pitch tracker's compression). Here both are
fixed in advance, the source by the caller and the scale by a constant
level, and every other step is causal or has a fixed lookahead: the STFT
frame (half a window), the networks (half their receptive fields, none
when causal), the loudness average (four frames, none when causal) and
where a frame sits in its note (``note_frames + 1``, none when causal).
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._cached_conv import FrameQueue, StreamingDecoder, StreamingEncoder
from ._features import (
    LOUDNESS_CONTEXT,
    full_scale_peak,
    pick_f0,
    salience_matrix,
    scaled_loudness,
    smoothing_pads,
)
from ._nn import context_frames
from ._notes import counted_frames, note_position, note_rows
from ._pitch_table import pitch_offsets
from ._spectrogram import AMIN
from ._synth import padded_hann
from ._vae_audio import SILENT_LOG, latent_weight
from ._vae_loudness import instrument_line

__all__ = ["ControlStream", "stream_peak", "lag_frames", "note_lookahead"]

# Lowest f0 the tracker searches, as harmonic_f0's default.
_FMIN = 65.0


def stream_peak(transformer):
    """The fixed scale of the pitch tracker's compression in a stream (see
    :func:`~sktimbre._features.full_scale_peak`), where offline conversion
    uses the clip's own largest magnitude."""
    return full_scale_peak(transformer.win_length or transformer.n_fft)


class ControlStream(nn.Module):
    """Audio samples in, the synthesiser controls of a TimbreVAE out, with a
    fixed lag in frames.

    Each call takes any number of new samples and returns the controls of
    the frames they complete: ``f0`` (1, T) in Hz and ``controls``
    (1, n_harmonics + n_noise_bands, T) in the renderer's log units,
    silenced where the input frame is digital silence. Frame ``n`` is
    centred on sample ``n * hop_length`` and comes out once sample
    ``(n + lag_frames) * hop_length + n_fft // 2 - 1`` has come in.

    Parameters
    ----------
    model : TimbreVAE
        Fitted, on a linear-frequency spectrogram.
    target : float
        The alpha asked for, which weighs the latent.
    position : float
        Where ``target`` puts the timbre code (spaced by ``alpha_curve_``).
    source : float
        The source instrument's alpha: 0 for A, 1 for B.
    peak : float
        Scale of the pitch tracker's compression (see :func:`stream_peak`).
    """

    def __init__(self, model, target: float, position: float, source: float,
                 peak: float):
        super().__init__()
        transformer = model.spectrogram_
        device = model.device_
        self.n_fft = int(transformer.n_fft)
        self.hop_length = int(transformer.hop_length)
        self.n_harmonics = int(model.n_harmonics)
        window = padded_hann(transformer.win_length or self.n_fft, self.n_fft)
        self.register_buffer("window", window.to(device))
        for name in ("mean", "scale"):
            value = getattr(transformer, name + "_")
            self.register_buffer(name, torch.as_tensor(value, device=device))
        self.register_buffer("salience", salience_matrix(
            sr=transformer.sr, n_fft=self.n_fft, fmin=_FMIN).to(device))
        self.compression = float(peak) * 1e-3 + 1e-12
        self.amin = AMIN
        self.fmin = _FMIN
        # The controls offline additive synthesis gives a silent frame.
        self.silent_control = SILENT_LOG
        self.silent_floor = math.log(2 * AMIN)
        # Samples not yet analysed, from the start of the next frame's window;
        # the offline STFT pads the clip with half a window of zeros.
        self.register_buffer("samples", torch.zeros(self.n_fft // 2, device=device))
        self.encoders = nn.ModuleList(StreamingEncoder(e) for e in model.encoder_)
        self.decoder = StreamingDecoder(model.decoder_)
        self.code = model.code_
        weight = torch.full((1,), float(source), device=device).reshape(-1, 1, 1)
        self.register_buffer("encoder_weight", weight.reshape(1))
        stats = model.decoder_.loudness_stats
        self.register_buffer("loudness_line",
                             torch.stack(instrument_line(stats, weight)))
        self.register_buffer("film", torch.zeros(0, device=device))
        # Each timbre's offsets per semitone (TimbreVAE pitch_table), looked
        # up by the f0 of the frames the decoder gives out.
        self.pitch_table = model.decoder_.pitch_table
        self.register_buffer("pitch_rows", torch.zeros(0, device=device))
        self.source = float(source)
        # See TimbreVAE._latent_weight: a decoder trained to render without
        # the latent reads less of it the farther alpha is from the source.
        self.latent_dropout = float(model.latent_dropout)
        self.latent_weight = 1.0
        self.set_target(float(target), float(position))
        self.smooth_width = 2 * LOUDNESS_CONTEXT + 1
        self.smooth_left = smoothing_pads(LOUDNESS_CONTEXT, model.causal)[0]
        self.started = False
        self.loudness = FrameQueue(1)
        self.pitch = FrameQueue(1)
        self.smoothed = FrameQueue(1)
        self.latent = FrameQueue(model.latent_dim)
        self.f0 = FrameQueue(1)
        self.silent = FrameQueue(1)
        # Where each frame sits in its note reads note_frames + 1 frames
        # before it, kept here once given out, and as many after it unless
        # the networks are causal.
        self.note_frames = counted_frames(model)
        self.note_ahead = not bool(model.causal)
        self.note_rows = note_rows(self.note_frames, bool(model.causal))
        self.notes = FrameQueue(self.note_rows)
        self.note_lookahead = note_lookahead(model)
        self.note_kept = self.note_frames + 1
        self.note_raw = FrameQueue(2)
        self.note_given = 0
        self.lag_frames = lag_frames(model)

    @torch.jit.export
    def set_target(self, target: float, position: float):
        """Render at alpha ``target``, its code at ``position``, from the next
        frame on."""
        # A host calls this outside any no_grad block of its own.
        with torch.no_grad():
            code = self.code(torch.full((1,), position, device=self.film.device))
            self.film = self.decoder.film_of(code)
            if self.pitch_table is not None:
                self.pitch_rows = self.pitch_table.table(code)
            self.latent_weight = float(latent_weight(
                torch.full((1,), self.source, dtype=torch.float64),
                torch.full((1,), target, dtype=torch.float64),
                self.latent_dropout))

    @torch.jit.export
    def reset(self):
        """Forget every sample and frame seen: the state of a new stream."""
        self.samples = self.samples.new_zeros(self.n_fft // 2)
        for encoder in self.encoders:
            encoder.reset()
        self.decoder.reset()
        self.started = False
        self.loudness.reset()
        self.pitch.reset()
        self.smoothed.reset()
        self.notes.reset()
        self.latent.reset()
        self.f0.reset()
        self.silent.reset()
        self.note_raw.reset()
        self.note_given = 0

    def _analyse(self, samples: torch.Tensor):
        """Normalised log magnitude (1, n_freq, T) and linear magnitude of the
        frames whose windows the samples now complete."""
        self.samples = torch.cat([self.samples, samples.to(self.samples.dtype)])
        n_frames = (self.samples.shape[0] - self.n_fft) // self.hop_length + 1
        if n_frames <= 0:
            empty = self.samples.new_zeros(1, self.n_fft // 2 + 1, 0)
            return empty, empty
        frames = self.samples.unfold(0, self.n_fft, self.hop_length)[:n_frames]
        self.samples = self.samples[n_frames * self.hop_length:]
        magnitude = torch.fft.rfft(frames * self.window).abs().T[None]
        log_mag = torch.log(magnitude + self.amin).double()
        values = ((log_mag - self.mean[:, None]) / self.scale[:, None]).float()
        # As SpectrogramTransformer.magnitude reads the normalised rows back.
        mean, scale = self.mean.float(), self.scale.float()
        linear = (torch.exp(values * scale[:, None] + mean[:, None]) - self.amin)
        return values, linear.clamp_min(0)

    def _features(self, magnitude: torch.Tensor):
        """Pitch feature, relative loudness, f0 and periodicity of each frame
        (1, 1, T)."""
        compressed = torch.log1p(magnitude / self.compression)
        f0, periodicity = pick_f0(self.salience @ compressed, compressed, self.fmin)
        loud = scaled_loudness(magnitude)[:, None]
        pitch = torch.log2(f0 / 440.0)[:, None]
        intercept, slope, spread = self.loudness_line[0], self.loudness_line[1], (
            self.loudness_line[2])
        relative = (loud - (intercept + slope * pitch)) / spread
        return pitch, relative, f0[:, None], periodicity[:, None]

    def _notes(self, pitch: torch.Tensor, periodicity: torch.Tensor):
        """Where each frame sits in its note (1, note_rows, T), as
        TimbreVAE's, for the frames whose later frames have come in."""
        if self.note_rows == 0:
            return pitch.new_zeros(1, 0, pitch.shape[-1])
        waiting = self.note_raw.push(torch.cat([pitch, periodicity], dim=1))
        ready = waiting - self.note_given - self.note_lookahead
        if ready <= 0:
            return pitch.new_zeros(1, self.note_rows, 0)
        raw = self.note_raw.frames
        rows = note_position(raw[:, 0], raw[:, 1], self.note_frames, self.note_ahead)
        out = rows[:, :, self.note_given:self.note_given + ready]
        # Frames further back than note_frames + 1 no longer reach any frame
        # to come; the counts are capped below them.
        given = self.note_given + ready
        self.note_given = min(given, self.note_kept)
        self.note_raw.pop(given - self.note_given)
        return out

    def _smooth(self, relative: torch.Tensor):
        """Moving average of the relative loudness, as TimbreVAE's, with its
        first frame repeated before the stream starts."""
        if relative.shape[-1] > 0 and not self.started:
            self.started = True
            self.loudness.push(relative[..., :1].expand(-1, -1, self.smooth_left))
        waiting = self.loudness.push(relative)
        ready = waiting - self.smooth_width + 1
        if ready <= 0:
            return relative[..., :0]
        window = self.loudness.pop(ready)
        window = torch.cat([window, self.loudness.frames], dim=-1)
        return F.avg_pool1d(window, self.smooth_width, stride=1)

    def _encode(self, values: torch.Tensor):
        """Posterior mean, blended between per-domain encoders by the source."""
        latents = [encoder(values) for encoder in self.encoders]
        if len(latents) == 1:
            return latents[0]
        weight = self.encoder_weight
        return (1 - weight) * latents[0] + weight * latents[1]

    def forward(self, samples: torch.Tensor):
        values, magnitude = self._analyse(samples)
        pitch, relative, f0, periodicity = self._features(magnitude)
        log_mag = values.double() * self.scale[:, None] + self.mean[:, None]
        silent = (log_mag < self.silent_floor).all(dim=-2, keepdim=True)
        self.f0.push(f0)
        self.silent.push(silent.float())
        self.pitch.push(pitch)
        self.smoothed.push(self._smooth(relative))
        self.notes.push(self._notes(pitch, periodicity))
        self.latent.push(self._encode(values))
        # Without note counts, _notes gives every frame at once (no rows).
        ready = min(self.pitch.size(), self.smoothed.size(), self.latent.size(),
                    self.notes.size())
        inputs = torch.cat([self.pitch.pop(ready), self.smoothed.pop(ready),
                            self.notes.pop(ready),
                            self.latent_weight * self.latent.pop(ready)], dim=1)
        controls = self.decoder(inputs, self.film)
        count = controls.shape[-1]
        f0 = self.f0.pop(count)[0]
        if self.pitch_table is not None:
            controls = controls + pitch_offsets(
                self.pitch_rows, torch.log2(f0 / 440.0), self.pitch_table.lowest_note)
        silent = self.silent.pop(count)[0] > 0.5
        quiet = torch.full_like(controls, self.silent_control)
        controls = torch.where(silent[None], quiet, controls)
        return f0, controls


def note_lookahead(model):
    """Frames after a frame that where it sits in its note reads."""
    frames = counted_frames(model)
    if model.causal or frames == 0:
        return 0
    return frames + 1


def lag_frames(model):
    """Frames after frame ``n`` that its controls read: the decoder's
    lookahead on top of that of its inputs (latent, loudness average and the
    note's position)."""
    def lookahead(field):
        return 0 if model.causal else context_frames(field)

    encoder = max(lookahead(e.receptive_field) for e in model.encoder_)
    return lookahead(model.decoder_.receptive_field) + max(
        encoder, smoothing_pads(LOUDNESS_CONTEXT, model.causal)[1],
        note_lookahead(model))
