"""The TimbreVAE's own audio: its synthesiser's controls played by
:class:`~sktimbre._synth.AdditiveSynth` instead of a phase reconstruction."""

import torch

from ._sklearn_compat import StrOptions
from ._spectrogram_array import RenderedAudio
from ._synth import AdditiveSynth

__all__ = ["AdditiveAudioMixin"]

# Log amplitude of the controls of a silent frame: exp(-100) is 0 in float32.
_SILENT = -100.0


class AdditiveAudioMixin:
    """Conversion of a TimbreVAE to audio by additive synthesis.

    The model provides ``synthesis``, ``keep_detail``, ``n_harmonics``,
    ``spectrogram_``, ``renderer_``, ``decoder_``, ``code_``, ``device_``,
    ``_torch_seed_`` and the methods ``_encode``, ``_decoder_inputs``,
    ``_position``, ``_to_representation``.

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
        ``source_alpha`` to the spaced ``target_alpha``: all of it at the
        input's own timbre, fading to none half a step away."""
        distance = abs(target_alpha - source_alpha)
        return self.keep_detail * max(0.0, 1.0 - 2.0 * distance)

    def _controls_chunk(self, chunk, source_alpha, target_alpha):
        """Decoder controls ``(1, n_harmonics + n_noise_bands, frames)`` of a
        chunk's content at ``target_alpha`` (spaced here, as in
        ``_convert_chunk``)."""
        device = chunk.spec.device
        source = torch.full((1,), source_alpha, device=device)
        target = torch.full((1,), self._position(target_alpha), device=device)
        mean, _ = self._encode(chunk.spec, source)
        inputs = self._decoder_inputs(mean, chunk.features, source)
        return self.decoder_(inputs, self.code_(target))

    def synthesiser(self):
        """The :class:`~sktimbre._synth.AdditiveSynth` that plays this model's
        controls, on its device, seeded by its ``random_state``."""
        transformer = self.spectrogram_
        return AdditiveSynth(
            transformer.sr, transformer.n_fft, transformer.hop_length,
            self.n_harmonics, self.renderer_.noise_interp.shape[0],
            win_length=transformer.win_length or transformer.n_fft,
            seed=self._torch_seed_,
        ).to(self.device_)

    @torch.no_grad()
    def _convert_rendering(self, spec, source_alpha, target_alpha, *, length,
                           peak=None):
        if self.synthesis != "additive" or self._detail_weight(
                source_alpha, self._position(target_alpha)) > 0:
            return super()._convert_rendering(spec, source_alpha, target_alpha,
                                              length=length, peak=peak)
        self._set_train_mode(False)
        data = self._clip_data(spec, None, peak=peak)
        controls = self._chunked(
            data, lambda chunk: self._controls_chunk(chunk, source_alpha, target_alpha))
        # A silent frame keeps its silence, as _convert keeps it.
        silent = self.spectrogram_._silent_frames(spec)
        controls[:, torch.as_tensor(silent, device=controls.device)] = _SILENT
        f0 = data.f0[None]
        harmonic = controls[None, :self.n_harmonics]
        noise = controls[None, self.n_harmonics:]
        values = self._to_representation(self.renderer_(f0, harmonic, noise))
        values = values[0].cpu().numpy()
        values[:, silent] = spec[:, silent]
        hop = self.spectrogram_.hop_length
        n_samples = (data.n_frames - 1) * hop if length is None else int(length)
        audio = self.synthesiser()(f0, harmonic, noise, length=n_samples)
        return values, RenderedAudio(audio[0].cpu().numpy(), values)
