"""A real small grid search on the default data, and what parallel fits buy.

1. The search of the model-selection guide, as written there: a
   SpectrogramTransformer + TimbreVAE pipeline, ``n_fft`` x ``n_mels`` x
   ``latent_dim`` (12 candidates), 3-fold cross-validation on the two
   instruments' clips, scored in audio by the reconstruction and conversion
   scorers, refit on the best conversion, with a time budget per fit
   (``max_time``) so the search has a known cost. The best estimator goes
   through joblib and must give the same audio.
2. The same kind of search with a fixed number of epochs (a time budget
   would make both equally long) with ``n_jobs=1`` and ``n_jobs=2``, and the
   torch threads each worker used: the parallel speed-up, measured.

    python benchmarks/search.py [--max-time 20] [--n-jobs 2]
"""

import argparse
import tempfile
import time

import joblib
import numpy as np
from _common import DOCS, machine, markdown_table, write_section
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sktimbre import SpectrogramTransformer, TimbreVAE, convert
from sktimbre.datasets import load_default
from sktimbre.metrics import make_timbre_scorer

GRID = {"spec__n_fft": [512, 1024, 2048], "spec__n_mels": [None, 128],
        "vae__latent_dim": [16, 64]}
SCORING = make_timbre_scorer(["reconstruction", "conversion"])


def pipeline(**vae):
    return Pipeline([("spec", SpectrogramTransformer()),
                     ("vae", TimbreVAE(random_state=0, verbose=0, **vae))])


def grid_search(data, max_time, n_jobs):
    search = GridSearchCV(pipeline(max_time=max_time), GRID, scoring=SCORING,
                          refit="conversion", cv=3, n_jobs=n_jobs)
    start = time.perf_counter()
    search.fit(data.violin, data.flute)
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/best.joblib"
        joblib.dump(search.best_estimator_, path)
        loaded = joblib.load(path)
    piece = data.test_violin[0]
    same = np.array_equal(convert(loaded, piece, alpha=0.5),
                          convert(search.best_estimator_, piece, alpha=0.5))
    return search, seconds, same


def results_table(search):
    r = search.cv_results_
    order = np.argsort(r["rank_test_conversion"], kind="stable")
    rows = []
    for i in order:
        p = r["params"][i]
        rows.append([
            r["rank_test_conversion"][i], p["spec__n_fft"], p["spec__n_mels"] or "linear",
            p["vae__latent_dim"],
            f"{r['mean_test_conversion'][i]:.3f} ± {r['std_test_conversion'][i]:.3f}",
            f"{-r['mean_test_reconstruction'][i]:.2f}",
            f"{r['mean_fit_time'][i]:.0f}", f"{r['mean_score_time'][i]:.0f}",
        ])
    return markdown_table(
        ["rank", "n_fft", "n_mels", "latent_dim", "conversion score (mean ± sd)",
         "reconstruction LSD (dB)", "fit (s)", "scoring (s)"], rows)


def _torch_threads():
    import torch

    return torch.get_num_threads()


def parallel_speedup(data, n_jobs):
    """Wall time of one fixed-work search with 1 and with n_jobs workers."""
    grid = {"vae__latent_dim": [16, 64]}
    scoring = make_timbre_scorer("reconstruction")
    times, scores = {}, {}
    for jobs in (1, n_jobs):
        search = GridSearchCV(pipeline(max_epochs=6, early_stopping=False), grid,
                              scoring=scoring, cv=2, n_jobs=jobs, refit=False)
        start = time.perf_counter()
        search.fit(data.violin, data.flute)
        times[jobs] = time.perf_counter() - start
        scores[jobs] = search.cv_results_["mean_test_score"]
    threads = joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(_torch_threads)() for _ in range(n_jobs))
    return times, threads, np.allclose(scores[1], scores[n_jobs], atol=1e-4)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=float, default=20.0,
                        help="time budget of each fit in the grid search (s)")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    data = load_default()

    times, threads, same_scores = parallel_speedup(data, args.n_jobs)
    speed = markdown_table(
        ["n_jobs", "wall time (s)", "speed-up", "torch threads per worker"],
        [[1, f"{times[1]:.0f}", "1.00x", _torch_threads()],
         [args.n_jobs, f"{times[args.n_jobs]:.0f}",
          f"{times[1] / times[args.n_jobs]:.2f}x", max(threads)]])
    print(speed)

    search, seconds, round_trip = grid_search(data, args.max_time, args.n_jobs)
    table = results_table(search)
    print(table)
    best = search.best_params_
    body = (
        "## Grid search on the default data (cpu)\n\n"
        f"`python benchmarks/search.py --max-time {args.max_time:g} "
        f"--n-jobs {args.n_jobs}`. Machine: {machine()}.\n\n"
        "GridSearchCV over `spec__n_fft` x `spec__n_mels` x `vae__latent_dim` "
        "(12 candidates), cv=3 on the 24 + 24 training clips of 5 s, "
        f"`TimbreVAE(max_time={args.max_time:g})` per fit, "
        "scoring `make_timbre_scorer(['reconstruction', 'conversion'])`, "
        f"refit on conversion, n_jobs={args.n_jobs}: {seconds / 60:.1f} minutes "
        f"in all. Best: `{best}`. The refitted best estimator through "
        f"joblib.dump/load gives {'identical' if round_trip else 'DIFFERENT'} "
        "audio.\n\n"
        f"{table}\n\n"
        "Parallel fits: a fixed-work search (2 candidates x 2 folds, 6 epochs "
        "each, reconstruction scorer) with one worker and with "
        f"{args.n_jobs}; the scores were "
        f"{'identical' if same_scores else 'DIFFERENT'}.\n\n{speed}\n"
    )
    # The guide shows the same measured tables as the benchmarks page.
    for page in (DOCS / "benchmarks.md", DOCS / "model-selection.md"):
        write_section("search-cpu", body, page)


if __name__ == "__main__":
    main()
