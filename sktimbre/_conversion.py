"""Conversion, shared by the timbre models: input forms in and out, alpha,
and chunked conversion of a spectrogram with enough context that the joins
are exact."""

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._features import full_scale_peak
from ._inputs import (
    ClipData,
    check_source,
    checked_spectrograms,
    is_spectrogram_input,
    spec_layout,
    to_specs,
)
from ._spectrogram import check_carried
from ._spectrogram_array import Spectrogram
from ._streaming import convert_long_clip, is_long
from ._validation import (
    as_plain,
    check_alpha,
    check_clips,
    mirror_clips,
)

__all__ = ["ConversionMixin"]


class ConversionMixin(TransformerMixin):
    """``transform``, ``inverse_transform`` and ``score`` of a timbre model.

    A TransformerMixin because scikit-learn wraps ``transform`` for
    ``set_output`` in the subclass of TransformerMixin that defines it.

    The model provides ``spectrogram_``, ``device_``, ``chunk_frames``,
    ``domain_classifier_``, ``_clip_data``, ``_ensure_device``,
    ``_set_train_mode`` and the ``_convert_chunk`` and
    ``_conversion_margin`` of its networks.
    """

    def transform(self, X, alpha=None, *, source=None):
        """Render the content of ``X`` with the timbre at ``alpha``.

        Parameters
        ----------
        X : array-like or Spectrogram
            Clips or spectrograms of either instrument, in the form ``fit``
            saw: raw audio in gives audio out, spectrograms in give
            spectrograms out (for the transformer's ``inverse_transform``).
        alpha : float in [0, 1], optional
            0 renders as domain A, 1 as domain B, values between as one voice
            that blends them. Defaults to the ``alpha`` given at construction.
        source : label or float in [0, 1], optional
            The instrument ``X`` is played on (one of ``classes_``, or 0 for
            A and 1 for B). When given, the conversion reads nothing from
            the whole clip: the source is this one, not the domain
            classifier's verdict, and the pitch tracker's scale is the STFT
            peak of a full-scale sine, not the clip's largest magnitude. A
            TimbreVAE's :meth:`stream` equals this conversion, delayed.

        Returns
        -------
        Spectrogram or ndarray or list
            Mirrors the input's layout.

        Notes
        -----
        A recording longer than 2048 frames (about 24 s at the default
        22050 Hz and hop of 256) goes in segments, each converted with
        enough frames of context on both sides that the audio equals that
        of converting it whole, to float rounding: memory stays that of one
        segment however long the recording, beside the input and output
        audio. With mel spectrograms, Griffin-Lim's random initial phase of
        such a recording is drawn per block of frames, from seeds derived
        from the transformer's ``random_state``.

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import TimbreVAE
        >>> phase = 2 * np.pi * np.outer([220, 330], np.arange(22050) / 22050)
        >>> A = (0.3 * np.sign(np.sin(phase))).astype(np.float32)  # 2 clips, 1 s
        >>> B = (0.5 * np.sin(1.5 * phase)).astype(np.float32)
        >>> vae = TimbreVAE(hidden=16, max_epochs=1, random_state=0).fit(A, B)
        >>> vae.transform(A[0], alpha=0.5).shape  # audio in, audio out
        (22050,)
        >>> S = vae.spectrogram_.transform(A[0])
        >>> vae.transform(S, alpha=1.0).timbre[1]  # spectrogram in and out
        1.0
        """
        check_is_fitted(self)
        alpha = check_alpha(self.alpha if alpha is None else alpha)
        if source is None:
            return self._map(X, lambda estimated: (estimated, alpha))
        given = check_source(source, self.classes_)
        transformer = self.spectrogram_
        peak = full_scale_peak(transformer.win_length or transformer.n_fft)
        return self._map(X, lambda estimated: (given, alpha), source=given, peak=peak)

    def inverse_transform(self, X):
        """Render the content of ``X`` back in the timbre it came with.

        For the output of :meth:`transform` as a :class:`Spectrogram`, the
        original timbre is the one it records; for other input the current
        timbre is estimated and the opposite instrument is rendered (the
        inverse of a full translation).

        Parameters
        ----------
        X : array-like or Spectrogram
            What :meth:`transform` returned, or other clips or spectrograms.

        Returns
        -------
        Spectrogram or ndarray or list
            Mirrors the input's layout.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.pipeline import Pipeline
        >>> from sktimbre import SpectrogramTransformer, TimbreVAE
        >>> t = np.arange(22050) / 22050
        >>> reedy = [np.sin(2 * np.pi * f * t) ** 3 for f in (196, 262)]
        >>> airy = [0.4 * np.sin(2 * np.pi * f * t) for f in (392, 523)]
        >>> pipe = Pipeline([("spec", SpectrogramTransformer()),
        ...                  ("vae", TimbreVAE(hidden=16, max_epochs=1))])
        >>> spec, vae = pipe.fit(reedy, airy).named_steps.values()
        >>> S = spec.transform(reedy[0])
        >>> moved = vae.transform(S, alpha=1.0)
        >>> back = vae.inverse_transform(moved)  # to the timbre S came with
        >>> back.timbre[1] == moved.timbre[0]
        True
        >>> spec.inverse_transform(back).shape
        (22050,)
        """
        check_is_fitted(self)
        return self._map(X, None)

    def _map(self, X, choose_alpha, *, source=None, peak=None):
        """Convert ``X`` at ``choose_alpha``'s pair; a ``source`` and
        ``peak`` given stand for the whole clip's estimates."""
        self._ensure_device()
        X = as_plain(X)
        transformer = self.spectrogram_
        self._check_carried(X)
        audio_in = not is_spectrogram_input(X)
        if audio_in:
            clips, layout = check_clips(X, name="X")
            if any(is_long(transformer, len(clip)) for clip in clips):
                return mirror_clips([self._map_clip(clip, choose_alpha, peak)
                                     for clip in clips], layout)
            specs = transformer.transform(clips)
        else:
            specs = checked_spectrograms(X, transformer, "X")
            layout = spec_layout(X)
        if audio_in:
            lengths = [len(clip) for clip in clips]
        elif layout == "array" and getattr(X, "lengths", None) is not None:
            lengths = [int(n) for n in X.lengths]
        else:
            lengths = [getattr(spec, "lengths", None) for spec in specs]
        outputs = []
        for spec, length in zip(specs, lengths):
            timbre = getattr(spec, "timbre", None)
            clip_source = source
            if clip_source is None:
                clip_source = self._estimate_source_alpha(spec) if timbre is None else (
                    timbre[1])
            pair = self._alpha_pair(clip_source, timbre, choose_alpha)
            plain = np.asarray(spec, dtype=np.float32)
            values, audio = self._convert_rendering(plain, *pair, length=length,
                                                    peak=peak)
            original = timbre[0] if timbre is not None else pair[0]
            outputs.append(Spectrogram(
                values, transformer=transformer,
                lengths=getattr(spec, "lengths", None),
                phase=getattr(spec, "phase", None),
                timbre=(original, pair[1]),
                audio=audio,
            ))
        if audio_in and all(out.audio is not None for out in outputs):
            return mirror_clips([out.audio.waveform for out in outputs], layout)
        if audio_in:
            return transformer.inverse_transform(
                mirror_clips(outputs, layout),
                lengths=[len(c) for c in clips],
                phase=None if layout != "array" or transformer.n_mels else np.stack(
                    [s.phase for s in outputs]),
            )
        if layout == "array":
            rendered = [out.audio for out in outputs]
            return Spectrogram(
                np.stack(outputs), transformer=transformer,
                lengths=getattr(X, "lengths", None), phase=getattr(X, "phase", None),
                audio=None if all(r is None for r in rendered) else rendered,
            )
        return mirror_clips(outputs, layout)

    def _map_clip(self, clip, choose_alpha, peak=None):
        """Audio of one clip converted: in segments when it is long (memory
        bounded by the segment, not the clip), else in one piece."""
        if is_long(self.spectrogram_, len(clip)):
            return convert_long_clip(self, clip, choose_alpha, peak=peak)
        return self._map(clip, choose_alpha, peak=peak)

    @staticmethod
    def _alpha_pair(source, timbre, choose_alpha):
        """(source_alpha, target_alpha) of a conversion: ``choose_alpha``'s
        pair, or the way back to the ``timbre`` a spectrogram records, or
        the other instrument."""
        if choose_alpha is not None:
            return choose_alpha(source)
        target = timbre[0] if timbre is not None else float(source < 0.5)
        return source, target

    def _check_carried(self, X):
        check_carried(X, self.spectrogram_, reader="the one this model was fitted with",
                      fix="transform the audio with the model's own spectrogram_ "
                          "transformer")

    @torch.no_grad()
    def _estimate_source_alpha(self, spec):
        """P(domain B) of a clip, from the input domain classifier."""
        self._set_train_mode(False)
        tensor = torch.as_tensor(np.asarray(spec, dtype=np.float32),
                                 device=self.device_)[None]
        logits = self.domain_classifier_(tensor)
        return self._source_alpha(float(torch.sigmoid(logits).mean()))

    def _source_alpha(self, probability):
        """The source alpha of a clip whose frames the domain classifier
        gives a mean P(domain B) of ``probability``: the instrument it names,
        0 (A) or 1 (B).

        The classifier was trained on the two instruments' own clips, so its
        P is how sure it is of the instrument, not a place between the two:
        a flute piece it gives 0.9 is a flute piece, not one a tenth of the
        way to the violin. Read as a place, that tenth kept a share of the
        piece's own detail and latent at alpha 0.5, more from the side the
        classifier was less sure of, and held the two sides of the blend
        apart. A spectrogram that a timbre model rendered carries the alpha
        it was rendered at instead (``Spectrogram.timbre``)."""
        return float(round(probability))

    def _convert_rendering(self, spec, source_alpha, target_alpha, *, length,
                           peak=None):
        """:meth:`_convert`'s spectrogram and, for a model that synthesises
        its own audio, the waveform of ``length`` samples it renders as a
        :class:`~sktimbre._spectrogram_array.RenderedAudio`; else None, and
        the transformer's Griffin-Lim makes the audio."""
        return self._convert(spec, source_alpha, target_alpha, peak=peak), None

    def _segment_player(self, source_alpha, target_alpha, out):
        """For a model that synthesises its own audio, an object whose
        ``play(values, peak=, start=, core=)`` writes the audio of a long
        clip's segments into ``out`` in turn and ``finish()`` its end; None
        (Griffin-Lim inverts each segment) otherwise."""
        return None

    def _conversion_margin(self):
        """Frames of context on each side of a frame that ``_convert_chunk``
        reads: half the receptive field of the networks it runs, with the
        context of the content features they read."""
        raise NotImplementedError

    @torch.no_grad()
    def _convert(self, spec, source_alpha, target_alpha, *, peak=None, offset=0):
        """Convert one (n_freq, n_frames) spectrogram chunk by chunk.

        Each chunk is converted with ``_conversion_margin()`` frames of
        context on both sides, so the joins are exact. When ``spec`` is a
        segment of a longer clip, starting at its frame ``offset``, ``peak``
        is the clip's largest magnitude (see
        :func:`~sktimbre._features.harmonic_f0`; ``spec``'s own by default),
        and the chunks are cut where the whole clip's are, so that their
        frames round as the whole clip's do.
        """
        return self._convert_by(
            spec, lambda chunk: self._convert_chunk(chunk, source_alpha, target_alpha),
            peak=peak, offset=offset)

    @torch.no_grad()
    def _convert_by(self, spec, convert_chunk, *, peak=None, offset=0):
        """:meth:`_convert` with ``convert_chunk`` (ClipData of a chunk ->
        (1, n_freq, frames)) in place of ``_convert_chunk``."""
        self._set_train_mode(False)
        data = self._clip_data(spec, None, peak=peak)
        out = self._chunked(data, convert_chunk, offset=offset).cpu().numpy()
        # A silent frame has no pitch or timbre to render, and a decoder told
        # "no loudness" may still paint a noise floor: keep silence silent.
        silent = self.spectrogram_.silent_frames(spec)
        out[:, silent] = spec[:, silent]
        return out

    def _chunked(self, data, convert_chunk, *, offset=0):
        """``convert_chunk`` (ClipData of a chunk -> (1, C, frames)) applied
        to ``data`` chunk by chunk, each with ``_conversion_margin()`` frames
        of context on both sides: (C, n_frames), as if converted whole."""
        n_frames = data.n_frames
        margin = self._conversion_margin()
        step = self.chunk_frames
        cuts = [0, *range(-offset % step or step, n_frames, step), n_frames]
        out = None
        for start, stop in zip(cuts[:-1], cuts[1:]):
            lo, hi = max(0, start - margin), min(n_frames, stop + margin)
            chunk = ClipData(data.spec[:, lo:hi][None], data.features[:, lo:hi][None],
                              data.f0[lo:hi][None], None)
            converted = convert_chunk(chunk)
            if out is None:
                out = converted.new_empty((converted.shape[1], n_frames))
            out[:, start:stop] = converted[0, :, start - lo:stop - lo]
        return out

    def score(self, X, y=None):
        """Negative mean absolute reconstruction error of ``X`` at its own timbre.

        In units of the fitted transformer's normalised log magnitude, so it
        compares models fitted with the same spectrogram settings only; use
        the scorers in :mod:`sktimbre.metrics` to compare across settings.
        """
        check_is_fitted(self)
        X = as_plain(X)
        self._check_carried(X)
        items = to_specs(self.spectrogram_, X, "X")
        errors = []
        for spec in items:
            source = self._estimate_source_alpha(spec)
            rebuilt = self._convert(spec, source, source)
            errors.append(np.mean(np.abs(rebuilt - spec)))
        return -float(np.mean(errors))
