"""What a default fit costs on four minutes of audio per instrument.

Two renderings of a source's default data (``random_state`` 0 and 1: other
melodies, the same instruments) give 48 + 48 clips of 5 s, four minutes per
instrument. Each model is fitted with its defaults through the public
Pipeline, on all the CPU threads torch is given (``--threads``, default 2),
once per development source (``--source``, all four by default: early
stopping ends fits on some sources sooner than on others, so the worst
source is the headline), and the table gives the seconds, the training
steps, the seconds per step and the budget the models are held to (3
minutes for the TimbreVAE, 10 for the TimbreCycleGAN). The same fit on the
default data alone (two minutes per instrument) is timed in the same run, so
the table also shows that the cost does not grow with the data.

    python benchmarks/fit_cost.py [--model vae|cyclegan|both] [--threads 2]
        [--source timgm6mb csound ...]
"""

import argparse
import time

import torch
from _common import SOURCES, load_source, machine, markdown_table, write_section
from sklearn.pipeline import Pipeline

from sktimbre import SpectrogramTransformer, TimbreCycleGAN, TimbreVAE
from sktimbre.datasets import load_default

BUDGET_S = {"TimbreVAE": 180, "TimbreCycleGAN": 600}


def timed_fit(estimator, violin, flute):
    pipe = Pipeline([("spec", SpectrogramTransformer()), ("model", estimator)])
    start = time.perf_counter()
    pipe.fit(violin, flute)
    seconds = time.perf_counter() - start
    model = pipe["model"]
    steps = model.n_epochs_ * model.steps_per_epoch if model.steps_per_epoch else None
    return seconds, model.n_epochs_, steps


def four_minutes(source):
    """Four minutes per instrument of a development source: its default data
    rendered with random_state 0 and 1."""
    first, second = (load_source(source, random_state=seed) for seed in (0, 1))
    return first.violin + second.violin, first.flute + second.flute


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="both", choices=["vae", "cyclegan", "both"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--source", nargs="+", default=list(SOURCES),
                        choices=list(SOURCES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    default = load_default()
    sets = [("timgm6mb", 2, (default.violin, default.flute))]
    sets += [(source, 4, four_minutes(source)) for source in args.source]
    models = {"TimbreVAE": TimbreVAE, "TimbreCycleGAN": TimbreCycleGAN}
    rows, worst = [], []
    for name, cls in models.items():
        if args.model != "both" and not name.lower().endswith(args.model):
            continue
        fits = []
        for source, minutes, (violin, flute) in sets:
            seconds, epochs, steps = timed_fit(cls(random_state=0), violin, flute)
            rows.append([name, source, f"{minutes} min per instrument",
                         f"{seconds:.0f}", epochs,
                         "" if steps is None else steps,
                         "" if not steps else f"{seconds / steps:.2f}",
                         f"{BUDGET_S[name]}", f"{seconds / BUDGET_S[name]:.2f}"])
            print(rows[-1], flush=True)
            if minutes == 4:
                fits.append((seconds, source))
        seconds, source = max(fits)
        worst.append(f"{name}: {seconds:.0f} s on {source}, "
                     f"{seconds / BUDGET_S[name]:.2f} of its budget")
    table = markdown_table(
        ["model", "source", "training audio", "fit (s)", "epochs", "steps",
         "s per step", "budget (s)", "fit / budget"], rows)
    headline = "Worst source on four minutes per instrument: " + "; ".join(worst) + "."
    print(table)
    print(headline)
    # One model's run writes a section of its own, so that the two models'
    # fits are timed one at a time on an otherwise idle machine.
    suffix = "" if args.model == "both" else f"-{args.model}"
    label = "" if args.model == "both" else f", {args.model}"
    write_section(
        f"fit-cost-cpu{suffix}",
        f"## Fit cost on four minutes per instrument (cpu{label})\n\n"
        f"`python benchmarks/fit_cost.py --model {args.model} --threads "
        f"{args.threads} --source {' '.join(args.source)}`: default "
        "parameters, random_state=0, through the Pipeline (spectrograms and "
        "pitch tracking included). The four minutes of a source are its "
        "default data rendered with random_state 0 and 1 (48 + 48 clips of "
        "5 s); the two minutes are the default data. "
        f"Machine: {machine()}.\n\n{headline}\n\n{table}\n\n"
        "Training runs `max_epochs` epochs of `steps_per_epoch` steps at most "
        "(early stopping may end it sooner), whatever the amount of audio; "
        "more audio costs only its spectrograms and pitch tracks. Seconds per "
        "step move with the machine's load from day to day; the steps do "
        "not. To train longer, raise `max_epochs` or `steps_per_epoch`; to "
        "bound the seconds, set `max_time`.")


if __name__ == "__main__":
    main()
