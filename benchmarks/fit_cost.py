"""What a default fit costs on four minutes of audio per instrument.

Two renderings of the default data (``random_state`` 0 and 1: other melodies,
the same instruments) give 48 + 48 clips of 5 s, four minutes per instrument.
Each model is fitted with its defaults through the public Pipeline, on all
the CPU threads torch is given (``--threads``, default 2), and the table
gives the seconds, the training steps and the budget the models are held to
(3 minutes for the TimbreVAE, 10 for the TimbreCycleGAN). The same fit on
the default data alone (two minutes per instrument) is timed in the same run,
so the table also shows that the cost does not grow with the data.

    python benchmarks/fit_cost.py [--model vae|cyclegan|both] [--threads 2]
"""

import argparse
import time

import torch
from _common import machine, markdown_table, write_section
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="both", choices=["vae", "cyclegan", "both"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    first, second = load_default(random_state=0), load_default(random_state=1)
    sets = {
        "2 min per instrument": (first.violin, first.flute),
        "4 min per instrument": (first.violin + second.violin,
                                 first.flute + second.flute),
    }
    models = {"TimbreVAE": TimbreVAE, "TimbreCycleGAN": TimbreCycleGAN}
    rows = []
    for name, cls in models.items():
        if args.model != "both" and not name.lower().endswith(args.model):
            continue
        for label, (violin, flute) in sets.items():
            seconds, epochs, steps = timed_fit(cls(random_state=0), violin, flute)
            rows.append([name, label, f"{seconds:.0f}", epochs,
                         "" if steps is None else steps,
                         f"{BUDGET_S[name]}", f"{seconds / BUDGET_S[name]:.2f}"])
            print(rows[-1], flush=True)
    table = markdown_table(
        ["model", "training audio", "fit (s)", "epochs", "steps at most",
         "budget (s)", "fit / budget"], rows)
    print(table)
    # One model's run writes a section of its own, so that the two models'
    # fits are timed one at a time on an otherwise idle machine.
    suffix = "" if args.model == "both" else f"-{args.model}"
    label = "" if args.model == "both" else f", {args.model}"
    write_section(
        f"fit-cost-cpu{suffix}",
        f"## Fit cost on four minutes per instrument (cpu{label})\n\n"
        f"`python benchmarks/fit_cost.py --model {args.model} --threads "
        f"{args.threads}`: default "
        "parameters, random_state=0, through the Pipeline (spectrograms and "
        "pitch tracking included). The four minutes are the default data "
        "rendered with random_state 0 and 1 (48 + 48 clips of 5 s). "
        f"Machine: {machine()}.\n\n{table}\n\n"
        "Training runs `max_epochs` epochs of `steps_per_epoch` steps at most "
        "(early stopping may end it sooner), whatever the amount of audio; "
        "more audio costs only its spectrograms and pitch tracks. To train "
        "longer, raise `max_epochs` or `steps_per_epoch`; to bound the "
        "seconds, set `max_time`.")


if __name__ == "__main__":
    main()
