"""Where a TimbreVAE conversion's distance to the target lies, per source.

The default pipeline (``random_state=0``, with any ``--param`` given) is
fitted on a source's training clips, or loaded from ``--models`` where an
earlier run saved it, and its
full conversions of the held-out pieces (violin to flute at alpha 1, flute to
violin at alpha 0) are compared with the target instrument's rendering of
the same notes. The LSD (``sktimbre.metrics.log_spectral_distance``: the
mean over frames of the RMS over bins of the dB difference) is split by
taking away, from the dB difference of each frame, what an oracle could
correct:

- ``piece level``: one gain per piece (the median difference);
- ``frame level``: one gain per frame (its median difference);
- ``envelope``: the difference smoothed over 8 bins (172 Hz) per frame, so
  that what stays is the fine structure: harmonic peaks against valleys,
  noise;
- ``identity, fine structure``: the input's own fine structure against the
  target's, the same way.

Then what a conversion could do without an oracle, as the LSD of the whole
conversion: its level matched to the input's peak or RMS, and the input's
stationary noise floor (a low percentile of each bin over frames, scaled to
the noise's median) added to the render in power or kept where the input is
at that floor.

    python benchmarks/lsd_parts.py --source csound-recorded timgm6mb-recorded \\
        [--models /tmp/models] [--param note_frames=0]

Prints one JSON line per source and direction; writes nothing to docs/.
"""

import argparse
import json
from pathlib import Path

import joblib
import numpy as np
import torch
from _common import SOURCES, load_source
from scipy.ndimage import uniform_filter1d
from sklearn.pipeline import Pipeline
from variants import parameter

from sktimbre import SpectrogramTransformer, TimbreVAE, convert
from sktimbre._audio_metrics import frame_rms_mean, power_db
from sktimbre.metrics import log_spectral_distance


def fitted(source, data, models, params):
    path = Path(models) / f"{source}.joblib" if models else None
    if path is not None and path.exists():
        return joblib.load(path)
    pipe = Pipeline([("spec", SpectrogramTransformer()),
                     ("model", TimbreVAE(random_state=0, **params))])
    pipe.fit(data.violin, data.flute)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(pipe, path)
    return pipe


def oracle_parts(inputs, outputs, targets):
    """Mean over pieces of the LSD left once each oracle part is taken away."""
    parts = {"whole": [], "piece level": [], "frame level": [], "envelope": [],
             "identity, fine structure": []}
    for x, y, t in zip(inputs, outputs, targets):
        n = min(len(y), len(t))
        target, difference = power_db(t[:n]), power_db(y[:n]) - power_db(t[:n])
        frame_gain = np.median(difference, axis=0)
        identity = power_db(x[:n]) - target
        parts["whole"].append(frame_rms_mean(difference))
        parts["piece level"].append(frame_rms_mean(difference - np.median(frame_gain)))
        parts["frame level"].append(frame_rms_mean(difference - frame_gain))
        parts["envelope"].append(frame_rms_mean(
            difference - uniform_filter1d(difference, 8, axis=0)))
        parts["identity, fine structure"].append(frame_rms_mean(
            identity - uniform_filter1d(identity, 8, axis=0)))
    return {name: round(float(np.mean(v)), 2) for name, v in parts.items()}


def with_noise_floor(pipe, clip, alpha, percentile=5):
    """Conversions of ``clip`` with the input's stationary noise floor added
    in power, and with the input kept where it is at that floor."""
    spec, model = pipe["spec"], pipe["model"]
    rows = spec.transform(clip)
    converted = model.transform(rows, alpha=alpha)
    heard = spec.magnitude(rows).numpy()
    rendered = spec.magnitude(converted).numpy()
    # A Rayleigh magnitude's median over its percentile-th percentile.
    to_median = np.sqrt(np.log(4.0)) / np.sqrt(-2 * np.log(1 - percentile / 100))
    floor = np.percentile(heard, percentile, axis=1, keepdims=True) * to_median
    variants = {
        "noise floor added": np.sqrt(rendered**2 + floor**2),
        "input kept at its floor": np.where(heard <= 2 * floor,
                                            np.maximum(rendered, heard), rendered),
    }
    return {name: spec.inverse_transform(
                spec.from_magnitude(torch.as_tensor(magnitude)).numpy(),
                phase=converted.phase)[: len(clip)]
            for name, magnitude in variants.items()}


def level_matched(inputs, outputs):
    def rms(clip):
        return np.sqrt(np.mean(clip**2))

    return {
        "input's peak": [y * np.abs(x).max() / np.abs(y).max()
                         for x, y in zip(inputs, outputs)],
        "input's RMS": [y * rms(x) / rms(y) for x, y in zip(inputs, outputs)],
    }


def measure(source, models, params):
    data = load_source(source)
    pipe = fitted(source, data, models, params)
    sides = {"violin to flute": (data.test_violin, data.test_flute, 1.0),
             "flute to violin": (data.test_flute, data.test_violin, 0.0)}
    for direction, (inputs, targets, alpha) in sides.items():
        outputs = convert(pipe, inputs, alpha=alpha)
        whole = {"conversion": outputs, **level_matched(inputs, outputs)}
        floors = [with_noise_floor(pipe, clip, alpha) for clip in inputs]
        for variant in floors[0]:
            whole[variant] = [f[variant] for f in floors]
        lsd = {variant: round(log_spectral_distance(targets, clips, sr=data.sr), 2)
               for variant, clips in whole.items()}
        print(json.dumps({"source": source, "direction": direction,
                          "lsd left by an oracle": oracle_parts(inputs, outputs,
                                                                targets),
                          "lsd": lsd}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs="+", default=["timgm6mb"],
                        choices=list(SOURCES))
    parser.add_argument("--models", help="folder to keep the fitted pipelines in")
    parser.add_argument("--param", action="append", type=parameter, default=[],
                        help="a TimbreVAE parameter, name=value")
    args = parser.parse_args()
    for source in args.source:
        measure(source, args.models, dict(args.param))


if __name__ == "__main__":
    main()
