"""Which of the TimbreVAE decoder's inputs tells it the source instrument?

At alpha 0.5 a violin piece and the flute piece with the same notes should
give one voice. The decoder alone (``keep_detail=0``) renders each from what
it reads of its input: the pitch, the loudness contour (relative to the
source instrument's own) and the content latent (faded out as the model
fades it, see ``latent_dropout``), and it plays the result at the input's
f0. Here, for each paired
held-out piece, one of these inputs is replaced on both sides by the mean of
the two sides' values, and the blend gap (the LSD between the two alpha 0.5
renderings, Griffin-Lim audio) is measured again: what is left with an input
averaged is the gap the other inputs make. The last rows also average the
pitch the decoder reads and the f0 the synthesiser plays, which conversion
keeps: what the two sides' own intonation adds. Silent frames stay each
input's own. The same fit, default parameters, random_state=0, on each
source.

    python benchmarks/conditioning.py [--source csound timgm6mb ...] \\
        [--param pitch_table=true]
"""

import argparse

import numpy as np
import torch
from _common import SOURCES, load_source, machine, markdown_table, write_section
from sklearn.pipeline import Pipeline
from variants import parameter

from sktimbre import SpectrogramTransformer, TimbreVAE
from sktimbre._vae_inputs import n_decoder_features
from sktimbre.metrics import blend_gap

# What each row of the decoder's input is (see TimbreVAE._decoder_inputs):
# pitch, the loudness contour relative to the source instrument's, where the
# frame sits in its note (averaged only where a row names it: the notes are
# the same on both sides of a pair, their onsets nearly so), then the
# content latent.
AVERAGED = {
    "nothing (decoder alone)": [],
    "content latent": ["latent"],
    "loudness contour": ["loudness"],
    "loudness and latent": ["loudness", "latent"],
    "pitch read, loudness and latent": ["pitch", "loudness", "latent"],
    "where each frame sits in its note": ["notes"],
    "every input the decoder reads": ["pitch", "loudness", "latent", "notes"],
    "all of them and the f0 played": ["pitch", "loudness", "latent", "f0"],
}


def decoder_inputs(model, spec, clip, domain):
    """Normalised spectrogram, f0 and the decoder's input rows for a clip."""
    values = np.asarray(spec.transform(clip), dtype=np.float32)
    data = model._clip_data(values, None)
    source = torch.full((1,), float(domain))
    latent, _ = model._encode(data.spec[None], source)
    weight = model._latent_weight(source, torch.full((1,), 0.5))
    inputs = model._decoder_inputs(weight * latent, data.features[None], source)
    return values, data.f0[None], inputs


def render(model, spec, values, f0, inputs):
    rendered = model._render(inputs, f0, torch.full((1,), 0.5))[0].numpy()
    silent = spec.silent_frames(values)
    rendered[:, silent] = values[:, silent]
    return spec.inverse_transform(rendered)


@torch.no_grad()
def gaps(pipe, data):
    spec, model = pipe["spec"], pipe["model"]
    model._set_train_mode(False)
    latent = n_decoder_features(model)
    rows = {"pitch": slice(0, 1), "loudness": slice(1, 2),
            "latent": slice(latent, None), "notes": slice(2, latent)}
    out = {name: ([], []) for name in AVERAGED}
    for violin, flute in zip(data.test_violin, data.test_flute):
        sides = [decoder_inputs(model, spec, violin, 0),
                 decoder_inputs(model, spec, flute, 1)]
        n = min(side[0].shape[-1] for side in sides)
        sides = [[t[..., :n] for t in side] for side in sides]
        for name, averaged in AVERAGED.items():
            inputs = [side[2].clone() for side in sides]
            f0s = [side[1] for side in sides]
            if "f0" in averaged:
                f0s = [(sides[0][1] + sides[1][1]) / 2] * 2
            for row in (rows[a] for a in averaged if a in rows):
                mean = (sides[0][2][:, row] + sides[1][2][:, row]) / 2
                for x in inputs:
                    x[:, row] = mean
            for i, side in enumerate(sides):
                out[name][i].append(render(model, spec, side[0], f0s[i], inputs[i]))
    return {name: blend_gap(a, b, sr=data.sr) for name, (a, b) in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs="+", default=list(SOURCES),
                        choices=list(SOURCES))
    parser.add_argument("--param", action="append", type=parameter, default=[],
                        help="a TimbreVAE parameter, name=JSON; with any, "
                             "nothing is written to docs/")
    args = parser.parse_args()
    params = dict(args.param)
    results = {}
    for name in args.source:
        data = load_source(name)
        pipe = Pipeline([("spec", SpectrogramTransformer()),
                         ("model", TimbreVAE(random_state=0, **params))])
        pipe.fit(data.violin, data.flute)
        results[name] = gaps(pipe, data)
        print(name, {k: round(v, 2) for k, v in results[name].items()}, flush=True)
    table = markdown_table(
        ["averaged on both sides", *args.source],
        [[row, *[f"{results[s][row]:.2f}" for s in args.source]] for row in AVERAGED])
    print(table)
    if params:
        return
    write_section(
        "conditioning-cpu",
        "## What tells the decoder the source instrument (cpu)\n\n"
        f"`python benchmarks/conditioning.py --source {' '.join(args.source)}`: "
        "the blend gap (dB) of the TimbreVAE's decoder alone at alpha 0.5 "
        "on the held-out paired pieces, when one input is replaced on both "
        "sides by the mean of the violin's and the flute's. Default "
        f"parameters, random_state=0. Machine: {machine()}.\n\n{table}")


if __name__ == "__main__":
    main()
