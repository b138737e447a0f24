"""How much of a TimbreVAE conversion's distance is what the decoder reads
from the input, per source.

A pipeline (``random_state=0``, with the given parameters) is fitted on a
source's training clips. Each held-out piece of the target instrument is
then rendered by the decoder in its own timbre from its own inputs, with
the latent off as a full conversion reads it, and again with one input at a
time taken from the other instrument's rendering of the same notes:

- ``own``: the target's own pitch, loudness and f0 (what the decoder can
  render);
- ``f0``: the input's pitch and f0, the target's loudness;
- ``loudness``: the input's loudness, the target's pitch, periodicity and
  f0;
- ``input``: everything from the input, as a full conversion.

The distance is the spectral one: the RMS over bins of the dB difference
of the model's spectrograms, averaged over the target's sounding frames (50
dB below its loudest and up); it runs higher than the LSD of audio. With
``--audio`` it also gives the audio LSD of ``own`` (Griffin-Lim, as
``convert``) and of the full conversions.

    python benchmarks/own_inputs.py --source timgm6mb csound \\
        --param note_frames=0 [--audio]

Prints one JSON line per source and direction; writes nothing to docs/.
"""

import argparse
import json

import numpy as np
import torch
from _common import SOURCES, load_source
from sklearn.pipeline import Pipeline
from variants import parameter

from sktimbre import SpectrogramTransformer, TimbreVAE, convert
from sktimbre._audio_metrics import frame_rms_mean
from sktimbre.metrics import log_spectral_distance

DB = 20 / np.log(10)


def render(model, inputs_from, f0_from, loudness_from, alpha):
    """The decoder's rendering at ``alpha`` (its own timbre), latent off,
    from the features of three clips."""
    features = inputs_from.features.clone()[None]
    features[:, 2:] = loudness_from.features[None, 2:]
    features[:, 0] = f0_from.features[None, 0]
    latent = torch.zeros(1, model.latent_dim, features.shape[-1])
    code = torch.full((1,), float(alpha))
    return model._decode(latent, features, f0_from.f0[None], code, code)[0]


def distance(transformer, target, rendered):
    target_db = transformer.denormalise(target.spec) * DB
    rendered_db = transformer.denormalise(rendered) * DB
    level = target_db.max(0).values
    sounding = level > level.max() - 50
    return frame_rms_mean((target_db - rendered_db)[:, sounding].numpy())


@torch.no_grad()
def measure(source, params, audio):
    data = load_source(source)
    pipe = Pipeline([("spec", SpectrogramTransformer()),
                     ("model", TimbreVAE(random_state=0, **params))])
    pipe.fit(data.violin, data.flute)
    transformer, model = pipe["spec"], pipe["model"]
    model._set_train_mode(False)

    def clip_data(clip):
        return model._clip_data(transformer.transform([clip])[0], None)

    directions = {"violin to flute": (data.test_violin, data.test_flute, 1.0),
                  "flute to violin": (data.test_flute, data.test_violin, 0.0)}
    for direction, (inputs, targets, alpha) in directions.items():
        rows = {"own": [], "f0": [], "loudness": [], "input": []}
        for clip, target_clip in zip(inputs, targets):
            x, y = clip_data(clip), clip_data(target_clip)
            for key, (a, b, c) in {"own": (y, y, y), "f0": (y, x, y),
                                   "loudness": (y, y, x),
                                   "input": (x, x, x)}.items():
                rows[key].append(distance(transformer, y,
                                          render(model, a, b, c, alpha)))
        line = {"source": source, "direction": direction,
                **{k: round(float(np.mean(v)), 2) for k, v in rows.items()}}
        if audio:
            line["lsd_own"], line["lsd_converted"] = (
                audio_lsd(pipe, data.sr, clips, targets, alpha)
                for clips in (targets, inputs))
        print(json.dumps(line), flush=True)


def audio_lsd(pipe, sr, clips, targets, alpha):
    """LSD to the targets of the decoder alone (no detail, latent off) on
    ``clips`` at ``alpha``."""
    model = pipe["model"]
    keep, fade = model.keep_detail, model._latent_weight
    model.set_params(keep_detail=0.0)
    model._latent_weight = lambda source, target: fade(source, target) * 0
    try:
        out = convert(pipe, clips, alpha=alpha)
    finally:
        model.set_params(keep_detail=keep)
        del model._latent_weight
    return round(log_spectral_distance(targets, out, sr=sr), 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs="+", default=["timgm6mb"],
                        choices=list(SOURCES))
    parser.add_argument("--param", action="append", type=parameter, default=[],
                        help="a TimbreVAE parameter, name=value")
    parser.add_argument("--audio", action="store_true")
    args = parser.parse_args()
    for source in args.source:
        measure(source, dict(args.param), args.audio)


if __name__ == "__main__":
    main()
