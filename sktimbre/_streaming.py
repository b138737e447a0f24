"""Raw audio longer than one segment, converted segment by segment.

Whole-piece conversion holds the spectrogram, phase, features, output and
Griffin-Lim state of a piece at once, several megabytes per second of audio.
A long recording goes instead in segments of ``_SEGMENT_FRAMES`` frames, cut
at multiples of ``hop_length``, each analysed, converted and inverted with
enough frames of context on both sides that its own frames and samples come
out as the whole piece's would; only the input and output audio grow with
the length. Two passes: the first gathers what the conversion reads from the
whole clip (the domain classifier's mean verdict, the largest magnitude, which
sets the pitch tracker's scale), the second converts.
"""

import numpy as np
import torch

from ._nn import context_frames
from ._spectrogram import phase_seed

__all__ = ["is_long", "convert_long_clip"]

# Frames kept from each segment (about 24 s at the default 22050 Hz and hop
# of 256); a clip of more frames is converted in segments.
_SEGMENT_FRAMES = 2048


def is_long(transformer, n_samples):
    """Whether a clip of ``n_samples`` is converted in segments."""
    return 1 + n_samples // transformer.hop_length > _SEGMENT_FRAMES


def _segments(n_frames, context):
    """``(start, stop, core_start, core_stop)`` of each segment: the frames
    it analyses and, among them, those it keeps; it analyses ``context``
    more on each side of those it keeps, where the clip has them."""
    for core_start in range(0, n_frames, _SEGMENT_FRAMES):
        core_stop = min(core_start + _SEGMENT_FRAMES, n_frames)
        yield (max(0, core_start - context), min(n_frames, core_stop + context),
               core_start, core_stop)


def _analyse(transformer, clip, start, stop):
    """Normalised spectrogram and phase of frames ``start:stop`` of ``clip``,
    and the number of samples from the first of them to the end of the clip
    or to the last of them. Frames within ``_analysis_context()`` of a cut
    inside the clip differ from the whole clip's."""
    hop = transformer.hop_length
    n_frames = 1 + len(clip) // hop
    end = len(clip) if stop == n_frames else stop * hop
    piece = np.asarray(clip[start * hop:end], dtype=np.float32)
    values, phase = transformer._normalised(piece)
    length = end - start * hop if stop == n_frames else (stop - start - 1) * hop
    phase = None if phase is None else phase[:, :stop - start]
    return values[:, :stop - start], phase, length


@torch.no_grad()
def _clip_statistics(model, clip):
    """The domain classifier's mean P(domain B) over the frames of ``clip``
    and the largest linear magnitude of its spectrogram: what conversion
    reads from the whole clip."""
    transformer = model.spectrogram_
    model._set_train_mode(False)
    n_frames = 1 + len(clip) // transformer.hop_length
    context = transformer._analysis_context() + context_frames(
        model.domain_classifier_.receptive_field)
    # Four bytes a frame: keep them, so that the mean is summed in the order
    # the whole clip's is, to the last bit.
    probabilities = torch.empty(n_frames, device=model.device_)
    peak = 0.0
    for start, stop, core_start, core_stop in _segments(n_frames, context):
        values, _, _ = _analyse(transformer, clip, start, stop)
        tensor = torch.as_tensor(values, device=model.device_)[None]
        core = slice(core_start - start, core_stop - start)
        logits = model.domain_classifier_(tensor)[0, core]
        probabilities[core_start:core_stop] = torch.sigmoid(logits)
        peak = max(peak, float(transformer.magnitude(values[:, core]).amax()))
    return float(probabilities.mean()), peak


def convert_long_clip(model, clip, choose_alpha, *, peak=None):
    """Convert one long clip of audio with a fitted timbre model.

    Equals the whole-piece conversion within float rounding, except that on
    a mel scale Griffin-Lim starts from the per-block random phase of
    :meth:`SpectrogramTransformer._random_phase`.

    Returns
    -------
    audio : ndarray of shape (len(clip),), float32
    """
    transformer = model.spectrogram_
    hop = transformer.hop_length
    n_frames = 1 + len(clip) // hop
    probability, clip_peak = _clip_statistics(model, clip)
    # A peak given in advance (a conversion that reads nothing from the whole
    # clip) stands for the clip's own.
    peak = clip_peak if peak is None else peak
    source, target = model._alpha_pair(model._source_alpha(probability), None,
                                       choose_alpha)
    context = (transformer._analysis_context() + model._conversion_margin()
               + transformer._synthesis_context())
    seed = phase_seed(transformer.random_state) if transformer.n_mels else None
    out = np.empty(len(clip), dtype=np.float32)
    # A model that synthesises its own audio plays each segment's core
    # frames in turn, its synthesiser's state carried across the cuts.
    player = model._segment_player(source, target, out)
    for start, stop, core_start, core_stop in _segments(n_frames, context):
        values, phase, length = _analyse(transformer, clip, start, stop)
        if player is not None:
            player.play(values, peak=peak, start=start, core=(core_start, core_stop))
            continue
        converted = model._convert(values, source, target, peak=peak, offset=start)
        if phase is None:
            phase = transformer._random_phase(seed, start, stop)
        audio = transformer._invert(converted, length, phase, None)
        first, last = core_start * hop, min(core_stop * hop, len(clip))
        out[first:last] = audio[first - start * hop:last - start * hop]
    if player is not None:
        player.finish()
    return out
