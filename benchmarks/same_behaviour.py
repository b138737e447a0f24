"""Do two code trees train and convert alike, and give the same quality figures?

Run each step once per tree, choosing the tree with ``PYTHONPATH``; the
script uses only what every tree since the per-source VAE runs has (the
public API, and ``measure`` and ``source_rows`` of the tree's own
``benchmarks/quality.py``), so an older checkout can be measured with it.

``fit`` fits TimbreVAE and TimbreCycleGAN briefly on the default data (one
thread, ``random_state=0``) and saves each model's ``history_`` and its
conversions of two held-out pieces at alpha 0, 0.5 and 1 to an ``.npz``;
``fit --full`` does the same for the default TimbreVAE's whole fit.
``quality`` runs the tree's quality benchmark on the default data for one
model and seed (the figures of ``benchmarks/quality.py --model vae``, all
columns of its per-source table) and saves them to a ``.json``. ``compare``
prints where two ``.npz`` files are bitwise equal and the largest difference
where they are not. ``write`` puts into docs/benchmarks.md how far each brief
fit is from the old tree's and the old-against-new quality table, with the
new tree's spread over seeds.

    OMP_NUM_THREADS=1 PYTHONPATH=<tree> python benchmarks/same_behaviour.py \\
        fit --out old.npz
    OMP_NUM_THREADS=1 PYTHONPATH=<tree> python benchmarks/same_behaviour.py \\
        quality [--model vae|cyclegan] [--random-state N] --out old.json
    python benchmarks/same_behaviour.py compare old.npz new.npz
    python benchmarks/same_behaviour.py write --old OLD_COMMIT old.json \\
        old.npz --new NEW_COMMIT new.json [--old-seed N old-N.json ...] \\
        [--seed N new-N.json ...] [--fit COMMIT commit.npz ...] \\
        --full old-full.npz new-full.npz --cyclegan old-gan.json new-gan.json
"""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

ALPHAS = (0.0, 0.5, 1.0)
# A brief fit: enough steps for every loss, callback and crop draw to run.
BRIEF = {"max_epochs": 3, "steps_per_epoch": 3, "random_state": 0, "device": "cpu"}


def _models(full):
    from sktimbre import TimbreCycleGAN, TimbreVAE

    if full:
        # The quality benchmark's TimbreVAE: every epoch, early stopping and
        # the best weights restored.
        return {"vae": TimbreVAE(random_state=0, device="cpu")}
    return {"vae": TimbreVAE(**BRIEF), "cyclegan": TimbreCycleGAN(**BRIEF)}


def fit(out, full=False):
    """Brief fits of both models (with ``full``, the default TimbreVAE's whole
    fit); their history_, epochs and conversions to ``out``."""
    from sklearn.pipeline import Pipeline

    from sktimbre import SpectrogramTransformer, convert
    from sktimbre.datasets import load_default

    torch.set_num_threads(1)
    data = load_default()
    pieces = [data.test_violin[0], data.test_flute[0]]
    arrays = {}
    for name, model in _models(full).items():
        torch.manual_seed(0)
        pipe = Pipeline([("spec", SpectrogramTransformer()), ("model", model)])
        pipe.fit(data.violin, data.flute)
        fitted = pipe["model"]
        for key, values in fitted.history_.items():
            arrays[f"{name}/history/{key}"] = np.asarray(values, dtype=float)
        arrays[f"{name}/epochs"] = np.array([fitted.n_epochs_, fitted.best_epoch_])
        for alpha in ALPHAS:
            for i, audio in enumerate(convert(pipe, pieces, alpha=alpha)):
                arrays[f"{name}/alpha{alpha}/piece{i}"] = np.asarray(audio)
        print(f"{name}: {fitted.n_epochs_} epochs, best {fitted.best_epoch_}")
    np.savez(out, **arrays)


def _quality_module():
    """The quality benchmark of the tree sktimbre is imported from."""
    import sktimbre

    benchmarks = Path(sktimbre.__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(benchmarks))
    spec = importlib.util.spec_from_file_location("quality", benchmarks / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quality(model, random_state, out):
    """The tree's quality figures on the default data for one model and seed."""
    from sktimbre.datasets import load_default

    torch.set_num_threads(1)
    bench = _quality_module()
    chosen = {name: est.set_params(random_state=random_state)
              for name, est in bench.models("cpu").items()
              if name.lower().endswith(model)}
    base, results, judged, identity_gap, _ = bench.measure(
        load_default(), chosen, pictures=False)
    rows = dict(bench.source_rows(base, results, judged, identity_gap))
    Path(out).write_text(json.dumps(rows, indent=1))
    print(bench.source_table(list(rows.items())))


def differences(old, new):
    """``{array: None where bitwise equal, else the largest difference}`` of
    two ``fit`` files (``inf`` where an array is missing or its shape moved)."""
    a, b = np.load(old), np.load(new)
    out = {}
    for key in sorted(set(a.files) | set(b.files)):
        if key not in a.files or key not in b.files or a[key].shape != b[key].shape:
            out[key] = np.inf
        elif np.array_equal(a[key], b[key], equal_nan=True):
            out[key] = None
        else:
            out[key] = float(np.nanmax(np.abs(a[key] - b[key])))
    return out


def compare(old, new):
    """Print, per array of two ``fit`` files, bitwise equal or how far apart."""
    for key, diff in differences(old, new).items():
        print(f"{key}: " + ("bitwise equal" if diff is None
                            else "missing or reshaped" if np.isinf(diff)
                            else f"max abs difference {diff:.3g}"))


def fit_table(old, fits):
    """Per commit of ``fits`` (``[(commit, npz), ...]``) and model: how far its
    history_ and conversions are from the ``old`` ``(commit, npz)``."""
    from _common import markdown_table

    rows = []
    for commit, path in fits:
        diffs = differences(old[1], path)
        for model in ("vae", "cyclegan"):
            cells = []
            for part in ("history", "alpha"):
                moved = [d for k, d in diffs.items()
                         if k.startswith(f"{model}/{part}") and d is not None]
                cells.append(format(max(moved), ".2g") if moved else "bitwise equal")
            rows.append([commit, model, *cells])
    return markdown_table(
        ["commit", "model", f"history_ against {old[0]} (largest difference)",
         "conversions at alpha 0, 0.5, 1 (largest sample difference)"], rows)


def full_fit_table(old, new):
    """How far apart two whole default TimbreVAE fits' losses are, by epoch."""
    from _common import markdown_table

    a, b = np.load(old), np.load(new)
    shown = [1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20]
    rows = []
    for loss in ("train_loss", "valid_loss"):
        x, y = a[f"vae/history/{loss}"], b[f"vae/history/{loss}"]
        epochs = [e for e in shown if e < min(len(x), len(y))] + [min(len(x), len(y))]
        rows.append([loss, *[format(abs(x[e - 1] - y[e - 1]), ".1e") for e in epochs]])
    # Both files are fit --full's, which records the epochs and the best one.
    epochs_of = {tree: f"{f['vae/epochs'][0]} (best {f['vae/epochs'][1]})"
                 for tree, f in (("old", a), ("new", b))}
    return markdown_table(["difference at epoch", *map(str, epochs)], rows), epochs_of


# The columns of the old-against-new table: (quality column, format).
COLUMNS = {
    "A->B LSD (dB)": ".2f", "B->A LSD (dB)": ".2f",
    "A->B MCD (dB)": ".2f", "B->A MCD (dB)": ".2f",
    "LSD vs match-EQ A->B (%)": "+.1f", "LSD vs match-EQ B->A (%)": "+.1f",
    "P(target) at alpha 1 (A->B)": ".3f", "P(target) at alpha 0 (B->A)": ".3f",
    "pitch acc. alpha 0.0": ".3f", "pitch acc. alpha 0.5": ".3f",
    "pitch acc. alpha 1.0": ".3f", "blend gap at alpha 0.5 (dB)": ".2f",
    "P(flute) at alpha 0.5 from A": ".3f", "P(flute) at alpha 0.5 from B": ".3f",
}


def _difference(value, fmt):
    """``value`` in the column's format, or in figures where that shows 0."""
    if value == 0:
        return "0"
    text = format(value, fmt)
    return text if float(text) else format(value, ".1e")


def quality_table(old, new, model_name):
    """Each run of the old and the new tree (``(commit, [(seed, json), ...])``),
    each tree's spread over its seeds, and how far apart the trees are."""
    from _common import markdown_table

    trees = {}
    for tree, (commit, runs) in (("old", old), ("new", new)):
        trees[tree] = {f"{tree} ({commit}), seed {seed}":
                       json.loads(Path(path).read_text())[model_name]
                       for seed, path in runs}
    rows = [[label, *[format(values[c], fmt) for c, fmt in COLUMNS.items()]]
            for runs in trees.values() for label, values in runs.items()]

    def column(tree, c):
        return [values[c] for values in trees[tree].values()]

    derived = {
        f"{tree}: spread over {len(trees[tree])} seeds (max - min)":
        [np.ptp(column(tree, c)) for c in COLUMNS]
        for tree in trees if len(trees[tree]) > 1}
    derived["old against new at the same seed 0 (difference)"] = [
        abs(column("new", c)[0] - column("old", c)[0]) for c in COLUMNS]
    if derived.keys() - {"old against new at the same seed 0 (difference)"}:
        derived["old against new, means over the seeds (difference)"] = [
            abs(np.mean(column("new", c)) - np.mean(column("old", c)))
            for c in COLUMNS]
    for label, values in derived.items():
        rows.append([label, *[_difference(v, fmt.lstrip("+"))
                              for v, fmt in zip(values, COLUMNS.values())]])
    return markdown_table(["run", *COLUMNS], rows)


def write(args):
    """The old-against-new tables in docs/benchmarks.md."""
    from _common import machine, write_section

    old, new = args.old, args.new
    table = quality_table((old[0], [(0, old[1]), *args.old_seed]),
                          (new[0], [(0, new[1]), *args.seed]), args.model)
    fitted = fit_table((old[0], old[2]), args.fit)
    whole, epochs = full_fit_table(*args.full)
    gan = quality_table((old[0], [(0, args.cyclegan[0])]),
                        (new[0], [(0, args.cyclegan[1])]), "TimbreCycleGAN")
    print(fitted, whole, table, gan, sep="\n\n")
    write_section(
        "same-behaviour-cpu",
        "## Same behaviour before and after the restructuring (cpu)\n\n"
        f"The tree before the training loop with callbacks ({old[0]}) against "
        f"the restructured one ({new[0]}) and the merges between, each measured "
        "with `benchmarks/same_behaviour.py` (one thread). Machine: "
        f"{machine()}.\n\n"
        "Brief fits, `same_behaviour.py fit`: TimbreVAE and TimbreCycleGAN for 3 "
        "epochs of 3 steps on the default data, random_state=0, then two "
        "held-out pieces converted at alpha 0, 0.5 and 1; each commit against "
        f"{old[0]}.\n\n{fitted}\n\n"
        "The default TimbreVAE's whole fit, `same_behaviour.py fit --full` "
        f"(random_state=0): {epochs['old']} epochs on the old tree, "
        f"{epochs['new']} on the new; how far apart the two fits' losses are, "
        f"epoch by epoch.\n\n{whole}\n\n"
        "Quality, `same_behaviour.py quality --model vae [--random-state N]`: "
        "the figures of `benchmarks/quality.py --model vae` (the per-source "
        "table's columns) on the default data (timgm6mb), default parameters; "
        "the judge and baselines are the same in every run, only the model's "
        f"seed changes.\n\n{table}\n\n"
        "The same for the default TimbreCycleGAN, `same_behaviour.py quality "
        f"--model cyclegan`, at seed 0 only.\n\n{gan}",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit_parser = commands.add_parser("fit")
    fit_parser.add_argument("--out", required=True)
    fit_parser.add_argument("--full", action="store_true",
                            help="the default TimbreVAE's whole fit instead")
    quality_parser = commands.add_parser("quality")
    quality_parser.add_argument("--model", default="vae", choices=["vae", "cyclegan"])
    quality_parser.add_argument("--random-state", type=int, default=0)
    quality_parser.add_argument("--out", required=True)
    compare_parser = commands.add_parser("compare")
    compare_parser.add_argument("old")
    compare_parser.add_argument("new")
    write_parser = commands.add_parser("write")
    write_parser.add_argument("--old", nargs=3, required=True,
                              metavar=("COMMIT", "JSON", "NPZ"))
    write_parser.add_argument("--new", nargs=2, required=True,
                              metavar=("COMMIT", "JSON"))
    for option, tree in (("--old-seed", "old"), ("--seed", "new")):
        write_parser.add_argument(option, nargs=2, action="append", default=[],
                                  metavar=("N", "JSON"),
                                  help=f"the {tree} tree's quality at seed N")
    write_parser.add_argument("--fit", nargs=2, action="append", default=[],
                              metavar=("COMMIT", "NPZ"))
    write_parser.add_argument("--full", nargs=2, required=True,
                              metavar=("OLD_NPZ", "NEW_NPZ"))
    write_parser.add_argument("--cyclegan", nargs=2, required=True,
                              metavar=("OLD_JSON", "NEW_JSON"),
                              help="the TimbreCycleGAN's quality, seed 0")
    write_parser.add_argument("--model", default="TimbreVAE")
    args = parser.parse_args()
    if args.command == "fit":
        fit(args.out, args.full)
    elif args.command == "quality":
        quality(args.model, args.random_state, args.out)
    elif args.command == "compare":
        compare(args.old, args.new)
    else:
        write(args)


if __name__ == "__main__":
    main()
