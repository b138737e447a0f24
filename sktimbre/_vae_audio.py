"""The TimbreVAE's own audio: its synthesiser's controls played by
:class:`~sktimbre._synth.AdditiveSynth` instead of a phase reconstruction."""

import torch

from ._sklearn_compat import StrOptions
from ._spectrogram_array import RenderedAudio
from ._synth import AdditiveSynth

__all__ = ["AdditiveAudioMixin"]

# Log amplitude of the controls of a silent frame: exp(-100) is 0 in float32.
SILENT_LOG = -100.0


def half_step_fade(distance: torch.Tensor) -> torch.Tensor:
    """Weight of what belongs to the source instrument (its unexplained
    detail, its content latent) in a render ``distance`` away from its own
    alpha: 1 there, falling linearly to 0 half a step away."""
    return (1.0 - 2.0 * distance).clamp_min(0.0)


def latent_weight(source: torch.Tensor, target: torch.Tensor,
                  dropout: float) -> torch.Tensor:
    """Weight of the content latent in a render at ``target`` of content
    read from instrument ``source`` (tensors of the same shape), for a
    decoder trained with ``latent_dropout`` of ``dropout``: 1 if it always
    saw the latent (0); none if it never did (1); otherwise the
    :func:`half_step_fade` of their distance, as the input's detail fades.
    Scriptable: the streaming modules weigh the latent with it too."""
    if dropout <= 0.0:
        return torch.ones_like(source)
    if dropout >= 1.0:
        return torch.zeros_like(source)
    return half_step_fade((target - source).abs())


class AdditiveAudioMixin:
    """Conversion of a TimbreVAE to audio by additive synthesis.

    The model provides ``synthesis``, ``keep_detail``, ``n_harmonics``,
    ``spectrogram_``, ``renderer_``, ``decoder_``, ``code_``, ``device_``,
    ``_torch_seed_`` and the methods ``_encode``, ``_decoder_inputs``,
    ``_position``, ``_render``, ``_to_representation``.

    With ``synthesis="additive"`` a conversion that keeps none of the input's
    own detail (alpha half a step or more from the source's, or
    ``keep_detail=0``) is rendered twice from one pass of the networks: the
    spectrogram, by :class:`~sktimbre._nn.HarmonicRenderer`, and its audio,
    by :class:`~sktimbre._synth.AdditiveSynth`, which the returned
    :class:`~sktimbre.Spectrogram` carries for the transformer's
    ``inverse_transform``. A conversion that keeps some of the input's
    detail is the renderer's spectrogram plus a residual of the input's,
    which no synthesiser control describes: Griffin-Lim turns it into audio,
    from the input's phase (docs/design.md).
    """

    _synthesis_constraints = {"synthesis": [StrOptions({"additive", "griffinlim"})]}

    def _detail_weight(self, source_alpha, target_alpha):
        """Share of the input's unexplained detail kept in a conversion from
        ``source_alpha`` to ``target_alpha`` (as asked, not spaced): all of
        it at the input's own timbre, fading to none half a step away."""
        distance = torch.tensor(abs(target_alpha - source_alpha), dtype=torch.float64)
        return self.keep_detail * float(half_step_fade(distance))

    def _latent_weight(self, source, target):
        """:func:`latent_weight` of tensors of shape (B,), as (B, 1, 1)."""
        return latent_weight(source, target,
                             float(self.latent_dropout)).reshape(-1, 1, 1)

    def _content_inputs(self, chunk, source_alpha, target_alpha):
        """A chunk's content as the decoder reads it in a conversion from
        ``source_alpha`` to ``target_alpha``: the latent's posterior mean,
        the decoder's inputs (that latent weighed by :meth:`_latent_weight`)
        and the source's alpha as a tensor of shape (1,)."""
        device = chunk.spec.device
        source = torch.full((1,), source_alpha, device=device)
        target = torch.full((1,), target_alpha, device=device)
        mean, _ = self._encode(chunk.spec, source)
        inputs = self._decoder_inputs(self._latent_weight(source, target) * mean,
                                      chunk.features, source)
        return mean, inputs, source

    def _controls_chunk(self, chunk, source_alpha, target_alpha):
        """Decoder controls ``(1, n_harmonics + n_noise_bands, frames)`` of a
        chunk's content at ``target_alpha``, its code spaced here as in
        ``_convert_chunk``."""
        _, inputs, _ = self._content_inputs(chunk, source_alpha, target_alpha)
        position = torch.full((1,), self._position(target_alpha),
                              device=chunk.spec.device)
        return self.decoder_(inputs, self.code_(position))

    def synthesiser(self):
        """The :class:`~sktimbre._synth.AdditiveSynth` that plays this model's
        controls, on its device, seeded by its ``random_state``.

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import TimbreVAE
        >>> t = np.arange(11025) / 22050
        >>> a = [np.sin(2 * np.pi * 220 * t).astype(np.float32)] * 2
        >>> b = [np.sign(np.sin(2 * np.pi * 330 * t)).astype(np.float32) * 0.2] * 2
        >>> vae = TimbreVAE(hidden=16, max_epochs=1, early_stopping=False,
        ...                 synthesis="additive").fit(a, b)
        >>> vae.synthesiser().latency  # samples its audio lags the frames by
        512
        """
        transformer = self.spectrogram_
        return AdditiveSynth(
            transformer.sr, transformer.n_fft, transformer.hop_length,
            self.n_harmonics, self.renderer_.noise_interp.shape[0],
            win_length=transformer.win_length or transformer.n_fft,
            seed=self._torch_seed_,
        ).to(self.device_)

    def _uses_synthesiser(self, source_alpha, target_alpha):
        """Whether the audio of this conversion comes from the synthesiser."""
        return self.synthesis == "additive" and self._detail_weight(
            source_alpha, target_alpha) == 0

    def _controls(self, spec, source_alpha, target_alpha, *, peak=None, offset=0):
        """f0 ``(1, n_frames)`` and the harmonic and noise controls ``(1, K,
        n_frames)``, ``(1, N, n_frames)`` of a conversion, converted chunk by
        chunk as :meth:`_convert` does; silent frames stay silent."""
        data = self._clip_data(spec, None, peak=peak)
        controls = self._chunked(
            data, lambda chunk: self._controls_chunk(chunk, source_alpha, target_alpha),
            offset=offset)
        # A silent frame keeps its silence, as _convert keeps it.
        silent = self.spectrogram_.silent_frames(spec)
        controls[:, torch.as_tensor(silent, device=controls.device)] = SILENT_LOG
        return (data.f0[None], controls[None, :self.n_harmonics],
                controls[None, self.n_harmonics:])

    def _segment_player(self, source_alpha, target_alpha, out):
        if not self._uses_synthesiser(source_alpha, target_alpha):
            return None
        return _SegmentPlayer(self, source_alpha, target_alpha, out)

    @torch.no_grad()
    def _convert_rendering(self, spec, source_alpha, target_alpha, *, length,
                           peak=None):
        if not self._uses_synthesiser(source_alpha, target_alpha):
            return super()._convert_rendering(spec, source_alpha, target_alpha,
                                              length=length, peak=peak)
        self._set_train_mode(False)
        f0, harmonic, noise = self._controls(spec, source_alpha, target_alpha,
                                             peak=peak)
        values = self._to_representation(self.renderer_(f0, harmonic, noise))
        values = values[0].cpu().numpy()
        silent = self.spectrogram_.silent_frames(spec)
        values[:, silent] = spec[:, silent]
        hop = self.spectrogram_.hop_length
        n_samples = (f0.shape[-1] - 1) * hop if length is None else int(length)
        audio = self.synthesiser()(f0, harmonic, noise, length=n_samples)
        return values, RenderedAudio(audio[0].cpu().numpy(), values)


class _SegmentPlayer:
    """Plays a long clip's segments through one synthesiser, in order, into
    ``out``: the synthesiser's state carries the oscillators' phases and the
    noise's overlap across each cut, so the audio equals the whole clip's
    synthesised at once, to float rounding."""

    def __init__(self, model, source_alpha, target_alpha, out):
        self.model, self.alphas, self.out = model, (source_alpha, target_alpha), out
        self.synth = model.synthesiser()
        self.state = self.synth.initial_state(1, model.device_)
        # Samples played so far, counted from ``latency`` before sample 0.
        self.played = 0
        self.last = None

    @torch.no_grad()
    def play(self, values, *, peak, start, core):
        """Synthesise the core frames ``core`` (clip frames) of a segment
        whose first frame is the clip's frame ``start``."""
        self.model._set_train_mode(False)
        controls = self.model._controls(values, *self.alphas, peak=peak, offset=start)
        kept = slice(core[0] - start, core[1] - start)
        controls = [c[..., kept] for c in controls]
        self.last = [c[..., -1:] for c in controls]
        self._emit(*controls)

    @torch.no_grad()
    def finish(self):
        """The samples after the last frame's centre, the last frame held."""
        hop = self.synth.hop_length
        extra = -(-(len(self.out) + self.synth.latency - self.played) // hop)
        if extra > 0:
            self._emit(*[c.expand(*c.shape[:-1], extra) for c in self.last])

    def _emit(self, f0, harmonic, noise):
        audio, self.state = self.synth.synthesize_block(f0, harmonic, noise,
                                                        self.state)
        audio = audio[0].cpu().numpy()
        first = self.played - self.synth.latency
        self.played += len(audio)
        lo, hi = max(first, 0), min(first + len(audio), len(self.out))
        if hi > lo:
            self.out[lo:hi] = audio[lo - first:hi - first]
