"""Round trip audio -> spectrogram -> audio: quality and speed against librosa.

Both sides run Griffin-Lim (fast, momentum 0.99, 32 iterations, random initial
phase) from the same magnitudes on the default data's held-out pieces; the mel
rows invert the mel projection first (librosa: ``mel_to_audio``). Prints a
table and writes it to docs/benchmarks.md.

    python benchmarks/spectrogram.py [--device cuda]
"""

import argparse
import functools

import librosa
import numpy as np
import torch
from _common import best_time, machine, markdown_table, write_section

from sktimbre import SpectrogramTransformer
from sktimbre.datasets import load_default
from sktimbre.metrics import log_spectral_distance

SETTINGS = dict(n_fft=1024, hop_length=256)


def librosa_round_trip(clips, sr, n_mels, n_iter):
    out = []
    for clip in clips:
        magnitude = np.abs(librosa.stft(clip, **SETTINGS))
        if n_mels is None:
            out.append(librosa.griffinlim(magnitude, n_iter=n_iter, length=len(clip),
                                          random_state=0, **SETTINGS))
        else:
            mel = librosa.feature.melspectrogram(S=magnitude, sr=sr, n_mels=n_mels,
                                                 power=1.0)
            linear = librosa.feature.inverse.mel_to_stft(mel, sr=sr, power=1.0,
                                                         n_fft=SETTINGS["n_fft"])
            out.append(librosa.griffinlim(linear, n_iter=n_iter, length=len(clip),
                                          random_state=0, **SETTINGS))
    return out


def ours_round_trip(transformer, clips):
    # Plain arrays, so no phase is carried: Griffin-Lim starts from random
    # phase exactly like librosa's.
    specs = [np.asarray(s) for s in transformer.transform(clips)]
    return transformer.inverse_transform(specs, lengths=[len(c) for c in clips])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-iter", type=int, default=32)
    args = parser.parse_args()
    data = load_default()
    clips = data.test_violin + data.test_flute
    seconds = sum(len(c) for c in clips) / data.sr
    rows = []
    for n_mels in (None, 128):
        transformer = SpectrogramTransformer(
            n_mels=n_mels, n_iter=args.n_iter, device=args.device, **SETTINGS
        ).fit(clips)
        if args.device.startswith("cuda"):
            ours_round_trip(transformer, clips[:1])  # warm-up: kernels, allocator
        t_ours, ours = best_time(functools.partial(ours_round_trip, transformer, clips))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t_ref, ref = best_time(functools.partial(
            librosa_round_trip, clips, data.sr, n_mels, args.n_iter), repeat=1)
        lsd_ours = log_spectral_distance(clips, ours, sr=data.sr)
        lsd_ref = log_spectral_distance(clips, ref, sr=data.sr)
        rows.append([
            "linear" if n_mels is None else f"mel {n_mels}",
            f"{lsd_ref:.2f}", f"{lsd_ours:.2f}", f"{lsd_ours - lsd_ref:+.2f}",
            f"{t_ref:.2f}", f"{t_ours:.2f}", f"{t_ref / t_ours:.1f}x",
            f"{seconds / t_ours:.0f}x",
        ])
    header = ["representation", "LSD librosa (dB)", "LSD sktimbre (dB)", "difference",
              "librosa (s)", f"sktimbre on {args.device} (s)", "speed-up",
              "faster than real time"]
    table = markdown_table(header, rows)
    print(table)
    write_section(
        f"spectrogram-{args.device.split(':')[0]}",
        f"## Spectrogram round trip ({args.device})\n\n"
        f"`python benchmarks/spectrogram.py --device {args.device}`: "
        f"{len(clips)} held-out pieces ({seconds:.0f} s of audio), n_fft=1024, "
        f"hop 256, {args.n_iter} Griffin-Lim iterations, momentum 0.99, random "
        f"initial phase on both sides; LSD to the original audio. Machine: "
        f"{machine()}.\n\n{table}\n",
    )


if __name__ == "__main__":
    main()
