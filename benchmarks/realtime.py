"""How fast does a piece convert, audio in to audio out?

The held-out violin pieces of the default data, converted to the flute
(alpha 1) through the public Pipeline (spectrogram, pitch tracking, model,
audio), by the TimbreVAE with ``synthesis="additive"`` and with
``synthesis="griffinlim"`` (the same fitted model, ``set_params`` between)
and by the TimbreCycleGAN (Griffin-Lim), in the same run, on ``--threads``
CPU threads: real-time factors (seconds of audio per second of conversion,
fastest of three runs) and each against the Griffin-Lim path.

Conversion speed does not depend on what the weights learnt, except that the
additive TimbreVAE hands a conversion that keeps the input's detail (alpha
within 0.5 of the source's) to Griffin-Lim: the table says how many pieces
were synthesised. Models have their default sizes; the TimbreVAE trains for
``--vae-seconds``, the TimbreCycleGAN fully (its figures below need it).

Then, for the TimbreCycleGAN, which has no synthesiser: LSD of its
violin-to-flute and flute-to-violin conversions against the target
instrument's rendering, against the Griffin-Lim iterations run from the
source's carried phase.

With ``--streaming``, instead: what streaming costs. A TimbreVAE of the
default size streams the first ``--seconds`` of the held-out violin pieces
block by block at block sizes 256, 512 and 2048, through the Python
``Streamer`` and through the TorchScript module that ``export_torchscript``
writes (what an audio host runs). Per block: the median and 99th-percentile
time against the block's duration, which is what a plug-in host cares about
(a block later than its duration is a dropout). The networks' cost depends
on their size, not on their weights, so the models are fitted for one epoch
only; the default and the causal (low-latency) networks are both timed. The
TimbreCycleGAN cannot stream (no synthesiser).

    python benchmarks/realtime.py [--threads 2] [--vae-seconds 60]
    python benchmarks/realtime.py --streaming [--threads 1] [--seconds 20]
"""

import argparse
import os
import time

import numpy as np
import torch
from _common import best_time, machine, markdown_table, write_section
from sklearn.pipeline import Pipeline

from sktimbre import SpectrogramTransformer, TimbreCycleGAN, TimbreVAE, convert
from sktimbre.datasets import load_default
from sktimbre.metrics import log_spectral_distance

GRIFFIN_LIM_ITERATIONS = (0, 4, 8, 16, 32, 64)
# Block sizes (samples) a plug-in host asks for.
BLOCK_SIZES = (256, 512, 2048)


def fitted(model, data):
    pipe = Pipeline([("spec", SpectrogramTransformer()), ("model", model)])
    start = time.perf_counter()
    pipe.fit(data.violin, data.flute)
    print(f"{type(model).__name__} fitted in {time.perf_counter() - start:.0f} s",
          flush=True)
    return pipe


def speed(pipe, pieces, sr):
    """Real-time factor of converting ``pieces`` to alpha 1, audio to audio."""
    seconds, _ = best_time(lambda: [convert(pipe, p, alpha=1.0) for p in pieces])
    return sum(len(p) for p in pieces) / sr / seconds


def synthesised_share(pipe, pieces):
    """Share of the pieces whose alpha 1 conversion the synthesiser made."""
    spec, model = pipe["spec"], pipe["model"]
    return float(np.mean([model.transform(spec.transform(p), alpha=1.0).audio
                          is not None for p in pieces]))


def speed_rows(vae, cyclegan, pieces, sr):
    rows = []
    vae["model"].set_params(synthesis="griffinlim")
    vae_griffin = speed(vae, pieces, sr)
    vae["model"].set_params(synthesis="additive")
    vae_additive = speed(vae, pieces, sr)
    share = synthesised_share(vae, pieces)
    cycle = speed(cyclegan, pieces, sr)
    rows.append(["TimbreVAE", "additive", f"{vae_additive:.0f}x",
                 f"{vae_additive / vae_griffin:.1f}", f"{100 * share:.0f}%"])
    rows.append(["TimbreVAE", "Griffin-Lim (32 iterations)", f"{vae_griffin:.0f}x",
                 "1.0", ""])
    rows.append(["TimbreCycleGAN", "Griffin-Lim (32 iterations)", f"{cycle:.0f}x",
                 f"{cycle / vae_griffin:.1f}", ""])
    return rows


def _block_times(process, piece, block_size):
    """Seconds each call of ``process`` took on ``piece`` in blocks."""
    times = []
    for start in range(0, len(piece) - block_size + 1, block_size):
        block = piece[start:start + block_size]
        begin = time.perf_counter()
        process(block)
        times.append(time.perf_counter() - begin)
    return np.array(times)


def streaming_cost(model, piece, sr, *, label):
    """Table rows of streaming ``piece`` with ``model`` at each block size,
    through the Python streamer and the scripted module."""
    rows = []
    for block_size in BLOCK_SIZES:
        streamer = model.stream(block_size=block_size, source="A")
        scripted = torch.jit.script(streamer.module)
        tensor = torch.from_numpy(piece)
        runs = {"Streamer.process": (streamer.process, piece),
                "TorchScript module": (scripted, tensor)}
        for path, (process, audio) in runs.items():
            with torch.no_grad():
                _block_times(process, audio[:8 * block_size], block_size)  # warm-up
                times = _block_times(process, audio, block_size)
            duration = block_size / sr
            rows.append([
                label, path, block_size, f"{1000 * duration:.1f}",
                f"{streamer.latency_ms:.0f}",
                f"{1000 * np.median(times):.2f}",
                f"{1000 * np.percentile(times, 99):.2f}",
                f"{np.percentile(times, 99) / duration:.2f}",
                f"{len(times) * duration / times.sum():.1f}x",
            ])
            print(rows[-1])
    return rows


def griffin_lim_rows(pipe, data):
    """LSD to the target against Griffin-Lim iterations, and their cost."""
    spec, model = pipe["spec"], pipe["model"]
    va, fl = data.test_violin, data.test_flute
    # The model runs once; only the inversion changes with the iterations.
    to_flute = [model.transform(spec.transform(c), alpha=1.0) for c in va]
    to_violin = [model.transform(spec.transform(c), alpha=0.0) for c in fl]
    default = spec.n_iter
    rows = []
    try:
        for n_iter in GRIFFIN_LIM_ITERATIONS:
            spec.set_params(n_iter=n_iter)
            start = time.perf_counter()
            flute = [spec.inverse_transform(S) for S in to_flute]
            seconds = time.perf_counter() - start
            violin = [spec.inverse_transform(S) for S in to_violin]
            rows.append([n_iter,
                         f"{log_spectral_distance(fl, flute, sr=data.sr):.2f}",
                         f"{log_spectral_distance(va, violin, sr=data.sr):.2f}",
                         f"{sum(len(c) for c in va) / data.sr / seconds:.0f}x"])
            print(rows[-1], flush=True)
    finally:
        spec.set_params(n_iter=default)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vae-seconds", type=float, default=60.0)
    parser.add_argument("--streaming", action="store_true",
                        help="measure streaming instead (see the module's notes)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="with --streaming: seconds of audio streamed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_default()
    if args.streaming:
        write_streaming(args, data)
        return
    torch.manual_seed(0)
    vae = fitted(TimbreVAE(random_state=0, device="cpu", max_time=args.vae_seconds),
                 data)
    cyclegan = fitted(TimbreCycleGAN(random_state=0, device="cpu"), data)
    pieces = data.test_violin
    speeds = markdown_table(
        ["model", "audio from", "conversion x real time", "against Griffin-Lim",
         "pieces synthesised"], speed_rows(vae, cyclegan, pieces, data.sr))
    print(speeds, flush=True)
    curve = markdown_table(
        ["Griffin-Lim iterations", "A->B LSD (dB)", "B->A LSD (dB)",
         "inversion x real time"], griffin_lim_rows(cyclegan, data))
    print(curve)
    seconds = sum(len(p) for p in pieces) / data.sr
    write_section(
        "realtime-cpu",
        f"## Conversion speed, audio in to audio out (cpu)\n\n"
        f"`python benchmarks/realtime.py --threads {args.threads} --vae-seconds "
        f"{args.vae_seconds:g}`: the 4 held-out violin pieces of the default data "
        f"({seconds:.0f} s of audio) converted to the flute (alpha 1) through the "
        "Pipeline, spectrogram, pitch tracking, networks and audio included; "
        "fastest of 3 runs; default model sizes, the TimbreVAE trained for "
        f"{args.vae_seconds:g} s (speed does not depend on the weights), the "
        "TimbreCycleGAN with its defaults. 'Against Griffin-Lim' divides by the "
        "TimbreVAE's Griffin-Lim figure of the same run. Pieces synthesised: "
        "the share the additive synthesiser made (the rest keep some of the "
        f"input's detail and go to Griffin-Lim). Machine: {machine()}.\n\n"
        f"{speeds}\n\nStreaming, block by block: [Streaming cost]"
        "(#streaming-cost-cpu).\n\n"
        "### Griffin-Lim iterations for the TimbreCycleGAN\n\n"
        "The same conversions of the 4 + 4 held-out pieces, inverted with each "
        "number of fast Griffin-Lim iterations from the source's carried phase "
        "(0: the rendered magnitude with the source's phase, one inverse STFT); "
        "LSD to the target instrument's own rendering; inversion speed of the "
        f"violin pieces.\n\n{curve}")


def write_streaming(args, data):
    """The streaming table, written to docs/benchmarks.md."""
    piece = np.concatenate(data.test_violin)[:int(args.seconds * data.sr)]
    piece = piece.astype(np.float32)
    rows = []
    load_before = os.getloadavg()[0]
    for label, causal in (("default", False), ("causal=True", True)):
        model = TimbreVAE(max_epochs=1, synthesis="additive", keep_detail=0.0,
                          causal=causal, random_state=0, device="cpu")
        model.fit(data.violin[:4], data.flute[:4])
        rows += streaming_cost(model, piece, data.sr, label=label)
    load_after = os.getloadavg()[0]
    table = markdown_table(
        ["networks", "path", "block (samples)", "block (ms)", "latency (ms)",
         "median block time (ms)", "p99 block time (ms)", "p99 / block duration",
         "real-time factor"], rows)
    print(table)
    write_section(
        "streaming-cpu",
        "## Streaming cost (cpu)\n\n"
        f"`python benchmarks/realtime.py --streaming --threads {args.threads} "
        f"--seconds "
        f"{args.seconds:g}`: a TimbreVAE of the default size (hidden 128, 60 "
        "harmonics, 64 noise bands) streams the first "
        f"{args.seconds:g} s of the default data's held-out violin pieces, block "
        "by block, with `synthesis=\"additive\"`; everything from audio in to "
        "audio out (STFT frames, f0 tracker, encoder, decoder, additive "
        "synthesiser) is inside each block's time. Latency is the stream's "
        "lookahead plus one block (docs/realtime.md). A p99 / block duration "
        "below 1 means 99% of the blocks are done before the next one is due. "
        f"Machine: {machine()}; load average {load_before:.1f} before the run "
        f"and {load_after:.1f} after it, on {os.cpu_count()} cores"
        # This run's own thread adds about 1 to the load after it.
        + (" (other jobs shared the machine; block times on an idle one are "
           "shorter)." if load_before > 0.5 else ".")
        + f"\n\n{table}")


if __name__ == "__main__":
    main()
