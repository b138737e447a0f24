"""How close the TimbreVAE's synthesiser can come to a recording at all.

For each held-out piece of a source, the controls of the harmonic renderer
(``sktimbre._nn.HarmonicRenderer``: each harmonic's level on the tracked f0,
and a noise envelope of ``--noise-bands`` bands, per frame) are fitted to
that piece's own STFT by gradient descent on the distance itself (the mean
over frames of the RMS over bins of the dB difference, power floored at
1e-5), each frame free of every other. The LSD left is the floor of any
decoder that drives this renderer; the default fit's rebuild of the same
pieces (``--models``, as ``lsd_parts.py`` saves them) shows how far above
that floor the decoder renders, and how much of its distance would go if
each note's mean error per bin were taken away (an oracle that knows each
note's spectrum), on the frames that sound.

    python benchmarks/renderer_floor.py --source csound timgm6mb-recorded \\
        [--models /tmp/models] [--noise-bands 64]

Prints one JSON line per source and instrument; writes nothing to docs/.
"""

import argparse
import json

import numpy as np
import torch
from _common import SOURCES, load_source
from lsd_parts import fitted

from sktimbre._audio_metrics import frame_rms_mean, power_db
from sktimbre._features import content_features
from sktimbre._nn import HarmonicRenderer

N_FFT, HOP = 1024, 256
SOUNDING = 0.3  # periodicity above which a frame is part of a note


def _stft(clip):
    """Linear magnitude in the layout the pitch tracker reads (torch)."""
    return torch.stft(torch.from_numpy(clip.astype(np.float32)), N_FFT, HOP,
                      window=torch.hann_window(N_FFT), return_complex=True).abs()


def _distance(magnitude, target_db):
    difference = 10 * torch.log10(magnitude**2 + 1e-5) - target_db
    return difference.pow(2).mean(0).sqrt().mean()


def renderer_floor(clip, sr, n_harmonics, n_bands, steps):
    """LSD of the renderer with per-frame controls fitted to ``clip``."""
    # The rows the distance itself compares (power_db: librosa's STFT,
    # zero-padded at the ends), not a second STFT of our own.
    target = torch.from_numpy(power_db(clip, n_fft=N_FFT, hop_length=HOP)).float()
    _, f0 = content_features(_stft(clip), sr=sr, n_fft=N_FFT)
    # A frame without a pitch gets its harmonics above Nyquist (silent).
    f0 = torch.where(torch.isfinite(f0) & (f0 > 0), f0, torch.full_like(f0, sr))
    renderer = HarmonicRenderer(sr, N_FFT, n_harmonics, n_bands)
    n_frames = target.shape[1]
    harmonic = torch.zeros(1, n_harmonics, n_frames, requires_grad=True)
    noise = torch.full((1, n_bands, n_frames), -5.0, requires_grad=True)
    optimiser = torch.optim.Adam([harmonic, noise], lr=0.15)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = _distance(renderer(f0[None], harmonic, noise)[0], target)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return float(_distance(renderer(f0[None], harmonic, noise)[0], target))


def note_parts(pipe, clip, alpha, sr):
    """The rebuild's LSD on sounding frames, and without each note's mean
    error per bin (a note: a run of frames on one tempered semitone)."""
    spec, model = pipe["spec"], pipe["model"]
    target = power_db(clip, n_fft=N_FFT, hop_length=HOP)
    rebuilt = spec.magnitude(model.transform(spec.transform(clip), alpha=alpha))
    n = min(target.shape[1], rebuilt.shape[1])
    error = 10 * np.log10(np.asarray(rebuilt)[:, :n] ** 2 + 1e-5) - target[:, :n]
    features, f0 = content_features(_stft(clip), sr=sr, n_fft=N_FFT)
    periodicity = features[1].numpy()[:n]
    semitone = np.round(12 * np.log2(np.maximum(f0.numpy()[:n], 1.0) / 440))
    note = np.where(periodicity > SOUNDING, semitone, np.nan)
    same = (note[1:] == note[:-1]) | (np.isnan(note[1:]) & np.isnan(note[:-1]))
    starts = np.r_[True, ~same]
    run = np.cumsum(starts)
    sounding = ~np.isnan(note)
    left = error.copy()
    for index in np.unique(run[sounding]):
        frames = run == index
        left[:, frames] -= error[:, frames].mean(axis=1, keepdims=True)
    return frame_rms_mean(error[:, sounding]), frame_rms_mean(left[:, sounding])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs="+", default=["csound"],
                        choices=list(SOURCES))
    parser.add_argument("--models", default=None, help=(
        "folder of fitted pipelines (fitted and saved when absent)"))
    parser.add_argument("--noise-bands", type=int, default=64)
    parser.add_argument("--n-harmonics", type=int, default=60)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(0)
    for source in args.source:
        data = load_source(source)
        pipe = fitted(source, data, args.models, {})
        # The decoder alone: none of the input's own detail is put back.
        pipe["model"].keep_detail = 0.0
        for name, clips, alpha in (("violin", data.test_violin, 0.0),
                                   ("flute", data.test_flute, 1.0)):
            floor = [renderer_floor(x, data.sr, args.n_harmonics, args.noise_bands,
                                    args.steps) for x in clips]
            parts = np.array([note_parts(pipe, x, alpha, data.sr) for x in clips])
            print(json.dumps({
                "source": source, "instrument": name,
                "noise_bands": args.noise_bands,
                "renderer_floor_lsd": round(float(np.mean(floor)), 2),
                "rebuild_lsd_sounding": round(float(parts[:, 0].mean()), 2),
                "rebuild_lsd_sounding_without_note_means": round(
                    float(parts[:, 1].mean()), 2),
            }), flush=True)


if __name__ == "__main__":
    main()
