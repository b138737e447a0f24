"""How much memory does converting a long recording take, and how fast is it?

Each model is fitted with its default parameters (TimbreCycleGAN without
calibrate_alpha) and the default SpectrogramTransformer for one epoch on a few
seconds of synthetic tones: the weights do not change what a conversion costs,
the network sizes do. Then ``transform(audio, alpha=0.5)`` converts 1, 5 and
20 minutes of a synthetic melody, each in a fresh process, which reports its
peak resident memory (``ru_maxrss``) and that after loading the model and
making the audio. Whole-piece conversion of 1 and 5 minutes, in the same way,
is the reference, and the largest difference between its audio and the
segmented conversion's.

    python benchmarks/memory.py [--model vae|cyclegan|both] [--minutes 1 5 20]
                                [--threads N]
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import joblib
import numpy as np
import torch
from _common import machine, markdown_table, write_section

SR = 22050
NAMES = {"vae": "TimbreVAE", "cyclegan": "TimbreCycleGAN"}
WHOLE_MINUTES = (1, 5)


def melody(seconds, sr=SR):
    """Notes of six pitches with vibrato, float32, repeated to ``seconds``;
    built note by note, so no full-length float64 copy is ever made."""
    t = np.arange(int(0.6 * sr)) / sr
    envelope = np.minimum(1, np.minimum(t, t[::-1]) * 20)
    notes = []
    for i, f0 in enumerate((220, 330, 262, 440, 294, 392)):
        phase = 2 * np.pi * np.cumsum(f0 * 2 ** (20 * np.sin(2 * np.pi * 5.5 * t)
                                                 / 1200)) / sr
        tone = sum(a * np.sin((k + 1) * phase) for k, a in enumerate((1, .5, .3)))
        noise = np.random.default_rng(i).standard_normal(len(t))
        notes.append((0.3 * tone * envelope + 0.002 * noise).astype(np.float32))
    pattern = np.concatenate(notes)
    return np.resize(pattern, int(seconds * sr))


def fit(name, folder):
    from sktimbre import TimbreCycleGAN, TimbreVAE

    params = {"max_epochs": 1, "early_stopping": False, "random_state": 0,
              "device": "cpu"}
    if name == "cyclegan":
        model = TimbreCycleGAN(calibrate_alpha=False, **params)
    else:
        model = TimbreVAE(**params)
    pattern = melody(3.6)
    a = [pattern[:SR], pattern[SR:2 * SR]]
    b = [np.sign(c) * 0.2 for c in a]
    path = Path(folder) / f"{name}.joblib"
    joblib.dump(model.fit(a, b), path)
    return path


def child(model_path, minutes, how, out, threads):
    """Convert in this (fresh) process and print what it cost, as JSON."""
    import resource
    import time

    from sktimbre import _streaming

    torch.set_num_threads(threads)
    if how == "whole":
        _streaming._SEGMENT_FRAMES = sys.maxsize
    model = joblib.load(model_path)
    audio = melody(60 * minutes)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start, cpu = time.perf_counter(), time.process_time()
    converted = model.transform(audio, alpha=0.5)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if out:
        np.save(out, converted)
    print(json.dumps({"loaded": loaded, "peak": peak, "time": elapsed, "cpu": cpu}))


def measure(model_path, minutes, how, out=""):
    args = [sys.executable, __file__, "--child", str(model_path), str(minutes),
            how, out, str(torch.get_num_threads())]
    # Through a shell, not straight from this process: on Linux a process's
    # ru_maxrss starts at the resident size of the one that spawned it.
    done = subprocess.run(["/bin/sh", "-c", shlex.join(args) + "; exit $?"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(name, minutes, how, cost):
    seconds = 60 * minutes
    growth = (cost["peak"] - cost["loaded"]) / seconds
    return [NAMES[name], f"{minutes:g} min", how, f"{cost['loaded']:.0f}",
            f"{cost['peak']:.0f}", f"{growth:.2f}", f"{cost['time']:.1f}",
            f"{cost['cpu']:.1f}", f"{seconds / cost['time']:.1f}x"]


def added_growth(name, costs):
    """MB of peak memory each second of audio adds between the two longest
    segmented conversions, beyond what loading the audio took."""
    lengths = sorted(m for n, m, how in costs if n == name and how == "segments")
    if len(lengths) < 2:
        return None
    grown = [costs[name, m, "segments"]["peak"] - costs[name, m, "segments"]["loaded"]
             for m in lengths[-2:]]
    return (grown[1] - grown[0]) / (60 * (lengths[-1] - lengths[-2]))


def convert_all(names, minutes, folder):
    """Costs by (model, minutes, conversion), and the largest difference
    between segmented and whole conversion's audio by (model, minutes)."""
    costs, differences = {}, {}
    for name in names:
        path = fit(name, folder)
        for length in minutes:
            saved = {}
            for how in ("segments", "whole"):
                if how == "whole" and length not in WHOLE_MINUTES:
                    continue
                out = ""
                if length in WHOLE_MINUTES:
                    out = saved[how] = str(Path(folder) / f"{how}.npy")
                costs[name, length, how] = measure(path, length, how, out)
                print(" | ".join(row(name, length, how, costs[name, length, how])),
                      f"| load {os.getloadavg()[0]:.1f}", flush=True)
            if len(saved) == 2:
                differences[name, length] = np.abs(
                    np.load(saved["segments"]) - np.load(saved["whole"])).max()
    return costs, differences


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["vae", "cyclegan", "both"],
                        default="both")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 20])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads of each conversion")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, minutes, how, out, threads = args.child
        return child(path, float(minutes), how, out, int(threads))
    torch.set_num_threads(args.threads)
    names = ["vae", "cyclegan"] if args.model == "both" else [args.model]
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as folder:
        costs, differences = convert_all(names, args.minutes, folder)
    loads.append(os.getloadavg()[0])
    rows = [row(*key, cost) for key, cost in costs.items()]
    table = markdown_table(
        ["model", "audio", "conversion", "RSS after loading (MB)", "peak RSS (MB)",
         "growth (MB per s of audio)", "time (s)", "CPU time (s)", "x real time"],
        rows)
    gaps = "; ".join(f"{NAMES[n]} {m:g} min {gap:.1e}"
                     for (n, m), gap in differences.items())
    added = [(NAMES[n], added_growth(n, costs)) for n in names]
    added = "; ".join(f"{n} {g:.2f}" for n, g in added if g is not None)
    print(table)
    print(f"differences: {gaps}\nadded growth (MB/s): {added}")
    write_section(
        "memory-cpu",
        "## Memory on long recordings (cpu)\n\n"
        f"`python benchmarks/memory.py --threads {args.threads}`: "
        "`model.transform(audio, alpha=0.5)` of a synthetic melody, each "
        "length in a fresh process; peak resident memory (`ru_maxrss`) and "
        "that after loading the model and making the audio, whose "
        "difference per second of audio is the growth. Models with default "
        "parameters (TimbreCycleGAN without calibrate_alpha) and the default "
        "SpectrogramTransformer (n_fft 1024, hop 256, 32 Griffin-Lim "
        "iterations from the input's phase), fitted for one epoch on "
        "seconds of synthetic tones: the weights do not change the cost, "
        "the network sizes do. A recording longer than 2048 frames (24 s) "
        "is converted in segments of 2048 frames with context on both sides "
        "('segments'); 'whole' converts it in one piece, as shorter clips "
        "are. Time is wall clock and CPU time of all threads; the real-time "
        "factor is from the wall clock.\n\n"
        f"{table}\n\n"
        "Segmented conversion holds one segment's work and the audio: "
        "beside the input, counted in the RSS after loading, the "
        "validated copy of the input and the output, 0.18 MB per second. "
        "Each second of audio between the two longest conversions added "
        f"(MB): {added}. Largest difference between segmented and whole "
        f"conversion's audio (samples in [-1, 1]): {gaps}. 1-minute load "
        f"average at the start and end: {loads[0]:.1f} and {loads[1]:.1f} "
        f"on {os.cpu_count()} cores. Machine: {machine()}.\n",
    )


if __name__ == "__main__":
    main()
