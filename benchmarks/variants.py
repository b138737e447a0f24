"""A model setting against the default, on one source, in minutes.

The quick comparison behind a choice of default: one fit per source of the
pipeline with the given parameters (``random_state=0``), then LSD both ways
and its gain over match-EQ, the blend gap, the judge's P(flute) at alpha 0.5
from both sides and P(target) at the ends (the same measures and judge as
``quality.py``, without pictures or docs). Prints one JSON line per source.
``--pitch`` adds raw pitch accuracy at alpha 0, 0.5 and 1 (pYIN, 50 cents,
the mean of both directions, as ``quality.py`` gives it), at some tens of
seconds of pitch tracking per source.

    python benchmarks/variants.py --source csound timgm6mb \\
        --param latent_dropout=0.5 --param lambda_alpha=0.1
    python benchmarks/variants.py --source csound-recorded \\
        --param max_epochs=30 --lr-decay-epochs 15 --random-state 1
    python benchmarks/variants.py --source csound --random-state 0 1 2
    python benchmarks/variants.py --model cyclegan --source csound \\
        --param match_eq=false

``--model`` picks the TimbreVAE (the default) or the TimbreCycleGAN.

With several ``--random-state`` seeds, each source's seed lines are followed
by a summary line: the mean of each figure over the seeds and its range
(smallest, largest), the spread a difference between two settings must
exceed before it says anything.

``--soundfont FILE ...`` measures on test material instead of ``--source``:
each soundfont dry and recorded, playing other melodies (see ``quality.py``).
Its figures check a setting on sounds it was not chosen on; defaults are
never chosen on them.

``--lr-decay-epochs N`` adds a linear decay of the learning rate over the
last N of ``max_epochs`` epochs (the callback the TimbreCycleGAN's
``lr_decay_epochs`` uses).
"""

import argparse
import json
import time

import numpy as np
import torch
from _common import SOURCES, load_source, load_unseen, unseen_sources
from quality import p_target
from sklearn.pipeline import Pipeline

from sktimbre import (
    MatchEQ,
    SpectrogramTransformer,
    TimbreCycleGAN,
    TimbreVAE,
    convert,
)
from sktimbre._training_callbacks import LinearLRDecay
from sktimbre.metrics import (
    InstrumentClassifier,
    blend_gap,
    estimate_f0,
    log_spectral_distance,
    raw_pitch_accuracy,
)

MODELS = {"vae": TimbreVAE, "cyclegan": TimbreCycleGAN}


def measure(source, params, random_state=0, lr_decay_epochs=0, model_name="vae",
            pitch=False, unseen=None):
    """One fit and its figures; ``unseen``: a test source's (soundfont, room)."""
    data = load_source(source) if unseen is None else load_unseen(unseen)
    sr, violin, flute = data.sr, data.test_violin, data.test_flute
    torch.manual_seed(0)
    eq = MatchEQ().fit(data.violin, data.flute)
    eq_lsd = (log_spectral_distance(flute, eq.transform(violin), sr=sr),
              log_spectral_distance(violin, eq.inverse_transform(flute), sr=sr))
    judge = InstrumentClassifier().fit(
        data.violin + data.flute, [0] * len(data.violin) + [1] * len(data.flute))

    def p_flute(clips):
        return float(np.mean(judge.predict_proba(clips)[:, 1]))

    model = MODELS[model_name](random_state=random_state, **params)
    if lr_decay_epochs:
        model.set_params(callbacks=[LinearLRDecay(lr_decay_epochs, model.max_epochs)])
    pipe = Pipeline([("spec", SpectrogramTransformer()), ("model", model)])
    start = time.perf_counter()
    pipe.fit(data.violin, data.flute)
    fit_s = time.perf_counter() - start
    to_flute = convert(pipe, violin, alpha=1.0)
    to_violin = convert(pipe, flute, alpha=0.0)
    middle = convert(pipe, violin, alpha=0.5), convert(pipe, flute, alpha=0.5)
    lsd = (log_spectral_distance(flute, to_flute, sr=sr),
           log_spectral_distance(violin, to_violin, sr=sr))
    return {
        "source": source, "model": model_name, "params": params,
        "random_state": random_state,
        "lr_decay_epochs": lr_decay_epochs, "epochs": pipe["model"].n_epochs_,
        "best_epoch": pipe["model"].best_epoch_,
        "lsd": [round(v, 2) for v in lsd], "match_eq": [round(v, 2) for v in eq_lsd],
        "gain_percent": [round(100 * (1 - v / e)) for v, e in zip(lsd, eq_lsd)],
        "blend_gap": round(blend_gap(*middle, sr=sr), 2),
        "p_flute_at_half": [round(p_flute(m), 2) for m in middle],
        "p_target": [round(p, 2) for p in p_target(judge, to_flute, to_violin)],
        "fit_s": round(fit_s),
        **model_figures(pipe["model"]),
        "p_flute_along_alpha_from_a": [
            round(p_flute(convert(pipe, violin, alpha=a)), 2) for a in (0.25, 0.75)],
        "p_flute_along_alpha_from_b": [
            round(p_flute(convert(pipe, flute, alpha=a)), 2) for a in (0.25, 0.75)],
        **(pitch_kept(pipe, violin, flute, sr) if pitch else {}),
    }


def pitch_kept(pipe, violin, flute, sr):
    """Raw pitch accuracy at alpha 0, 0.5 and 1, the mean over the violin
    pieces' and the flute pieces' conversions (as ``quality.py`` gives it)."""
    references = [[estimate_f0(c, sr=sr) for c in pieces] for pieces in (violin, flute)]
    accuracy = [round(float(np.mean([
        raw_pitch_accuracy(pieces, convert(pipe, pieces, alpha=alpha), sr=sr,
                           ref_f0=f0)
        for pieces, f0 in zip((violin, flute), references)])), 3)
        for alpha in (0.0, 0.5, 1.0)]
    return {"pitch_accuracy": accuracy}


def model_figures(model):
    """What only one of the models reports: the TimbreVAE's level error and
    where alpha 0.5 puts its timbre code (0.5 unless calibrate_alpha); the
    TimbreCycleGAN's mean change in dB (A to B, B to A) and the positions
    alpha 0.5 reaches on its two lines."""
    if isinstance(model, TimbreVAE):
        return {"level_error_db": round(
                    model.history_["conversion_level_error_db"], 2),
                "code_at_half": round(float(model._position(0.5)), 3)}
    return {"change_db": np.round(model.change_db_, 2).tolist(),
            "position_at_half": [round(float(model._position(0.5, line)), 3)
                                 for line in (0, 1)]}


# The figures whose spread over seeds is summarised, each a number or a list.
SPREAD_KEYS = ("epochs", "best_epoch", "lsd", "gain_percent", "blend_gap",
               "p_flute_at_half", "p_target", "fit_s")


def seed_summary(runs):
    """Mean and range over the seeds of one source's runs: for each figure of
    ``SPREAD_KEYS``, ``{"mean": ..., "min": ..., "max": ...}``, elementwise
    for the figures given both ways."""
    summary = {"source": runs[0]["source"], "params": runs[0]["params"],
               "random_state": [run["random_state"] for run in runs]}
    for key in SPREAD_KEYS:
        values = np.array([run[key] for run in runs], dtype=float)
        summary[key] = {name: np.round(reduce(values, axis=0), 2).tolist()
                        for name, reduce in (("mean", np.mean), ("min", np.min),
                                             ("max", np.max))}
    return summary


def parameter(text):
    key, _, value = text.partition("=")
    return key, json.loads(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vae", choices=list(MODELS))
    parser.add_argument("--source", nargs="+", default=["timgm6mb"],
                        choices=list(SOURCES))
    parser.add_argument("--param", action="append", type=parameter, default=[],
                        help="a model parameter as name=JSON value")
    parser.add_argument("--random-state", type=int, nargs="+", default=[0],
                        help="seeds: one fit each, then a summary of their spread")
    parser.add_argument("--lr-decay-epochs", type=int, default=0)
    parser.add_argument("--pitch", action="store_true",
                        help="also raw pitch accuracy at alpha 0, 0.5 and 1")
    parser.add_argument("--soundfont", nargs="+", default=[],
                        help="test material instead of --source: each General "
                             "MIDI soundfont rendered dry and recorded")
    args = parser.parse_args()
    unseen = unseen_sources(args.soundfont)
    for source in unseen or args.source:
        runs = []
        for seed in args.random_state:
            runs.append(measure(source, dict(args.param), seed,
                                args.lr_decay_epochs, args.model, args.pitch,
                                unseen.get(source)))
            print(json.dumps(runs[-1]), flush=True)
        if len(runs) > 1:
            print(json.dumps(seed_summary(runs)), flush=True)


if __name__ == "__main__":
    main()
