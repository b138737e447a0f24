"""What streaming costs: real-time factor and time per block.

A TimbreVAE of the default size streams a held-out piece of the default data
block by block at block sizes 256, 512 and 2048, through the Python
``Streamer`` and through the TorchScript module that ``export_torchscript``
writes (what an audio host runs). Per block: the median and 99th-percentile
time against the block's duration, which is what a plug-in host cares about
(a block later than its duration is a dropout). The networks' cost depends
on their size, not on their weights, so the models are fitted for one epoch
only; the default and the causal (low-latency) networks are both timed.

    python benchmarks/realtime.py [--threads 1] [--seconds 20]
"""

import argparse
import os
import time

import numpy as np
import torch
from _common import machine, markdown_table, write_section

from sktimbre import TimbreVAE
from sktimbre.datasets import load_default

BLOCK_SIZES = (256, 512, 2048)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_default()
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
        f"`python benchmarks/realtime.py --threads {args.threads} --seconds "
        f"{args.seconds:g}`: a TimbreVAE of the default size (hidden 128, 60 "
        "harmonics, 64 noise bands) streams the first "
        f"{args.seconds:g} s of the default data's held-out violin pieces, block "
        "by block, with `synthesis=\"additive\"`; everything from audio in to "
        "audio out (STFT frames, f0 tracker, encoder, decoder, additive "
        "synthesiser) is inside each block's time. Latency is the stream's "
        "lookahead plus one block (docs/realtime.md). A p99 / block duration "
        "below 1 means 99% of the blocks are done before the next one is due. "
        f"Machine: {machine()}; load average {load_before:.1f} before the run "
        f"and {load_after:.1f} after it, on {os.cpu_count()} cores (other jobs "
        "shared the machine; block times on an idle one are shorter)."
        f"\n\n{table}")


if __name__ == "__main__":
    main()
