"""The same work on the GPU and on the CPU of one machine, in one run.

For each timbre model: seconds per training epoch on the default data (a fit
of a few epochs, random_state=0, after a warm-up fit on the GPU), and the
speed of converting the held-out pieces (spectrogram, model, Griffin-Lim);
for the SpectrogramTransformer: its Griffin-Lim round trip. Prints a table
with the GPU's speed-up over the CPU and writes it to docs/benchmarks.md.
Needs a CUDA GPU.

    python benchmarks/gpu.py [--epochs 3]
"""

import argparse
import functools

import torch
from _common import best_time, machine, markdown_table, write_section
from sklearn.pipeline import Pipeline
from spectrogram import ours_round_trip

from sktimbre import SpectrogramTransformer, TimbreCycleGAN, TimbreVAE, convert
from sktimbre.datasets import load_default

# calibrate_alpha is a fixed cost after training, not an epoch's.
MODELS = {
    "TimbreVAE": functools.partial(TimbreVAE, early_stopping=False),
    "TimbreCycleGAN": functools.partial(TimbreCycleGAN, calibrate_alpha=False),
}


# Every timed call returns NumPy arrays, and training reads each step's
# losses back, so the timings wait for the GPU without explicit syncs.


def epoch_seconds(make, data, device, epochs):
    pipe = Pipeline([("spec", SpectrogramTransformer(device=device)),
                     ("model", make(max_epochs=epochs, random_state=0, device=device))])
    pipe.fit(data.violin, data.flute)
    return pipe["model"].fit_time_ / epochs, pipe


def conversion_seconds(pipe, clips):
    return best_time(functools.partial(convert, pipe, clips, alpha=0.5))[0]


def round_trip_seconds(clips, device):
    transformer = SpectrogramTransformer(device=device).fit(clips)
    run = functools.partial(ours_round_trip, transformer, clips)
    run()  # warm-up: kernels, allocator, FFT plans
    return best_time(run)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py needs a CUDA GPU; PyTorch sees none.")
    data = load_default()
    clips = data.test_violin + data.test_flute
    seconds = sum(len(c) for c in clips) / data.sr
    rows = []
    for name, make in MODELS.items():
        # The first CUDA fit pays for context creation and kernel loading.
        epoch_seconds(make, data, "cuda", 1)
        per_epoch, convert_s = {}, {}
        for device in ("cpu", "cuda"):
            per_epoch[device], pipe = epoch_seconds(make, data, device, args.epochs)
            convert_s[device] = conversion_seconds(pipe, clips)
        rows.append([f"{name} training (s per epoch)", f"{per_epoch['cpu']:.2f}",
                     f"{per_epoch['cuda']:.2f}",
                     f"{per_epoch['cpu'] / per_epoch['cuda']:.1f}x"])
        rows.append([f"{name} conversion (x real time)",
                     f"{seconds / convert_s['cpu']:.0f}x",
                     f"{seconds / convert_s['cuda']:.0f}x",
                     f"{convert_s['cpu'] / convert_s['cuda']:.1f}x"])
    trip = {device: round_trip_seconds(clips, device) for device in ("cpu", "cuda")}
    rows.append(["SpectrogramTransformer round trip, 32 Griffin-Lim iterations "
                 "(x real time)", f"{seconds / trip['cpu']:.0f}x",
                 f"{seconds / trip['cuda']:.0f}x",
                 f"{trip['cpu'] / trip['cuda']:.1f}x"])
    table = markdown_table(["work", "CPU", "GPU", "GPU speed-up"], rows)
    print(table)
    write_section(
        "gpu",
        "## GPU against CPU (same machine)\n\n"
        f"`python benchmarks/gpu.py --epochs {args.epochs}`: default parameters, "
        f"random_state=0, fits of {args.epochs} epochs on the default data "
        "(alpha calibration, a fixed cost after training, left out), conversion "
        f"of the {len(clips)} held-out pieces ({seconds:.0f} s of audio) to alpha "
        f"0.5, Griffin-Lim included. Machine: {machine()}.\n\n{table}\n",
    )


if __name__ == "__main__":
    main()
