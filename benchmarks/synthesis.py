"""Does the TimbreVAE's additive synthesis sound as good as Griffin-Lim?

One TimbreVAE (default parameters, random_state=0) is fitted per source of
the default data; the same fitted model then converts the same held-out
pieces with ``synthesis="griffinlim"`` at 32 (the default), 16, 8 and 4
Griffin-Lim iterations and with ``synthesis="additive"`` (``set_params``
between, no second fit), and each is scored as
benchmarks/quality.py scores a model: LSD and MCD to the target
instrument's own rendering, the instrument judge's P(target), pitch accuracy,
level and conversion speed. A second table measures the conversions that keep
some of the input's detail (alpha within 0.5 of the source's), which
``"additive"`` hands to Griffin-Lim: how far that audio, and the alternative
of adding the detail back in the time domain (synth(alpha) + w (x -
synth(source))), land from the spectrogram the model meant.

    python benchmarks/synthesis.py [--source csound timgm6mb ... | all]
                                   [--device cpu]
"""

import argparse
import time

import numpy as np
import torch
from _common import DOCS, SOURCES, load_source, machine, markdown_table, write_section
from quality import distances, level_error, p_target
from sklearn.pipeline import Pipeline

from sktimbre import SpectrogramTransformer, TimbreVAE, convert
from sktimbre._dsp import stft
from sktimbre.metrics import (
    InstrumentClassifier,
    blend_gap,
    estimate_f0,
    raw_pitch_accuracy,
)

# (synthesis, Griffin-Lim iterations): the same fit heard through each.
SETTINGS = (("griffinlim", 32), ("griffinlim", 16), ("griffinlim", 8),
            ("griffinlim", 4), ("additive", None))
# Steps from the source's own alpha towards the other instrument at which
# the detail-keeping conversions are measured (share kept: 1 - 2 * step).
DETAIL_STEPS = (0.1, 0.25, 0.4)


def score(pipe, data, classifier, ref_f0):
    """One synthesis's figures on the held-out pieces."""
    sr = data.sr
    va, fl = data.test_violin, data.test_flute
    start = time.perf_counter()
    to_flute = convert(pipe, va, alpha=1.0)
    speed = sum(len(c) for c in va) / sr / (time.perf_counter() - start)
    to_violin = convert(pipe, fl, alpha=0.0)
    half_a, half_b = convert(pipe, va, alpha=0.5), convert(pipe, fl, alpha=0.5)
    spec, model = pipe["spec"], pipe["model"]
    synthesised = np.mean([
        model.transform(spec.transform(c), alpha=0.5).audio is not None
        for c in va + fl])

    def pitch(from_violin, from_flute):
        return float(np.mean([
            raw_pitch_accuracy(va, from_violin, sr=sr, ref_f0=ref_f0["va"]),
            raw_pitch_accuracy(fl, from_flute, sr=sr, ref_f0=ref_f0["fl"])]))

    return {
        "a2b": distances(fl, to_flute, sr), "b2a": distances(va, to_violin, sr),
        "p_target": p_target(classifier, to_flute, to_violin),
        "pitch_full": pitch(to_flute, to_violin), "pitch_half": pitch(half_a, half_b),
        "level": (level_error(fl, to_flute), level_error(va, to_violin)),
        "gap": blend_gap(half_a, half_b, sr=sr), "speed": speed,
        "synthesised_half": float(synthesised),
    }


def _lsd_to(magnitude, audio, spec):
    """LSD (dB) of ``audio``'s STFT against a magnitude spectrogram, with
    log_spectral_distance's floor."""
    heard = stft(torch.as_tensor(audio), n_fft=spec.n_fft,
                 hop_length=spec.hop_length).abs().cpu()
    frames = min(heard.shape[-1], magnitude.shape[-1])
    diff = 10 * (torch.log10(heard[:, :frames] ** 2 + 1e-5)
                 - torch.log10(magnitude[:, :frames].cpu() ** 2 + 1e-5))
    return float(diff.pow(2).mean(dim=0).sqrt().mean())


def detail_rows(pipe, data):
    """Per step from the source: LSD to the meant spectrogram of Griffin-Lim
    (what ``"additive"`` does there) and of the time-domain residual."""
    spec, model = pipe["spec"], pipe["model"]
    clips = data.test_violin + data.test_flute
    rows = []
    for step in DETAIL_STEPS:
        griffin, residual = [], []
        for clip in clips:
            S = spec.transform(clip)
            source = model._estimate_source_alpha(S)
            target = source + step if source < 0.5 else source - step
            weight = model._detail_weight(source, model._position(target))
            meant = model.transform(S, alpha=target)
            magnitude = spec.magnitude(meant)
            griffin.append(_lsd_to(magnitude, spec.inverse_transform(meant), spec))
            model.set_params(keep_detail=0.0)
            try:
                plain = model.transform(S, alpha=target).audio.waveform
                own = model.transform(S, alpha=source).audio.waveform
            finally:
                model.set_params(keep_detail=1.0)
            mixed = plain + weight * (clip - own)
            residual.append(_lsd_to(magnitude, mixed, spec))
        rows.append((step, 1 - 2 * step, float(np.mean(griffin)),
                     float(np.mean(residual))))
    return rows


def measure(source, device):
    data = load_source(source)
    torch.manual_seed(0)
    classifier = InstrumentClassifier().fit(
        data.violin + data.flute, [0] * len(data.violin) + [1] * len(data.flute))
    ref_f0 = {"va": [estimate_f0(c, sr=data.sr) for c in data.test_violin],
              "fl": [estimate_f0(c, sr=data.sr) for c in data.test_flute]}
    pipe = Pipeline([("spec", SpectrogramTransformer()),
                     ("model", TimbreVAE(random_state=0, device=device))])
    start = time.perf_counter()
    pipe.fit(data.violin, data.flute)
    print(f"{source}: fitted in {time.perf_counter() - start:.0f} s")
    results = {}
    default_iterations = pipe["spec"].n_iter
    for synthesis, n_iter in SETTINGS:
        pipe["model"].set_params(synthesis=synthesis)
        pipe["spec"].set_params(n_iter=default_iterations if n_iter is None else n_iter)
        name = setting_name(synthesis, n_iter)
        results[name] = score(pipe, data, classifier, ref_f0)
        print(source, name, results[name], flush=True)
    pipe["spec"].set_params(n_iter=default_iterations)
    pipe["model"].set_params(synthesis="additive")
    return results, detail_rows(pipe, data)


def setting_name(synthesis, n_iter):
    return synthesis if n_iter is None else f"{synthesis}, {n_iter} iterations"


COLUMNS = {
    "A->B LSD (dB)": lambda r: f"{r['a2b'][0]:.2f}",
    "A->B MCD (dB)": lambda r: f"{r['a2b'][1]:.2f}",
    "B->A LSD (dB)": lambda r: f"{r['b2a'][0]:.2f}",
    "B->A MCD (dB)": lambda r: f"{r['b2a'][1]:.2f}",
    "P(target) A->B / B->A": lambda r: "{:.2f} / {:.2f}".format(*r["p_target"]),
    "pitch acc. full translation": lambda r: f"{r['pitch_full']:.3f}",
    "pitch acc. alpha 0.5": lambda r: f"{r['pitch_half']:.3f}",
    "level A->B / B->A (dB)": lambda r: "{:+.1f} / {:+.1f}".format(*r["level"]),
    "blend gap at 0.5 (dB)": lambda r: f"{r['gap']:.2f}",
    "alpha 0.5 pieces synthesised": lambda r: f"{100 * r['synthesised_half']:.0f}%",
    "conversion x real time": lambda r: f"{r['speed']:.0f}x",
}


def tables(per_source):
    quality = markdown_table(["source", "synthesis", *COLUMNS], [
        [source, synthesis, *[cell(r) for cell in COLUMNS.values()]]
        for source, (results, _) in per_source.items()
        for synthesis, r in results.items()])
    detail = markdown_table(
        ["source", "alpha - source", "detail kept", "Griffin-Lim from the input's "
         "phase (dB)", "synth + residual in time (dB)"],
        [[source, f"{step:.2f}", f"{kept:.1f}", f"{gl:.2f}", f"{res:.2f}"]
         for source, (_, rows) in per_source.items()
         for step, kept, gl, res in rows])
    return quality, detail


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--source", nargs="+", default=["csound", "timgm6mb"],
                        choices=[*SOURCES, "all"])
    args = parser.parse_args()
    sources = list(SOURCES) if "all" in args.source else args.source
    per_source = {}
    for source in sources:
        per_source[source] = measure(source, args.device)
        quality, detail = tables(per_source)
        print(quality, detail, sep="\n\n")
        write_section(
            f"synthesis-{args.device.split(':')[0]}",
            f"## Additive synthesis against Griffin-Lim ({args.device})\n\n"
            f"`python benchmarks/synthesis.py --device {args.device} --source "
            f"{' '.join(per_source)}`: one TimbreVAE (default parameters, "
            "random_state=0) fitted per source, the same fitted model converting "
            "the same 4 + 4 held-out pieces of 8 s with each synthesis, "
            "Griffin-Lim with 32 (the default), 16, 8 and 4 iterations from the "
            "input's phase. Full "
            "translation: violin to flute at alpha 1 (A->B), flute to violin at "
            "alpha 0 (B->A). Pitch accuracy: pYIN raw pitch accuracy (50 cents) "
            "between input and output, mean of both directions. Level: RMS of "
            "the output over the target's. A conversion that keeps some of the "
            "input's detail (alpha within 0.5 of the source's) is made by "
            "Griffin-Lim with either setting: the 'synthesised' column is the "
            "share of alpha 0.5 pieces that were not. Speed: violin to flute, "
            "audio in to audio out, one run each (benchmarks/realtime.py "
            "measures speed alone, fastest of three). "
            f"Machine: {machine()}.\n\n{quality}\n\n"
            "Conversions that keep detail, additive model: LSD between the "
            "audio's STFT and the spectrogram the model rendered (renderer plus "
            "the kept share of the input's residual), for Griffin-Lim from the "
            "input's phase and for the additive audio plus the kept share of "
            "the input's time-domain residual, x - synth(source alpha); mean "
            f"over the 8 pieces.\n\n{detail}")
        write_section(
            "synthesis-vae",
            "### Measured: additive synthesis against Griffin-Lim\n\n"
            f"`python benchmarks/synthesis.py --source {' '.join(per_source)}` "
            "(details in [Benchmarks](benchmarks.md#additive-synthesis-against-"
            f"griffin-lim-{args.device.split(':')[0]})): the same fitted model, "
            f"the same pieces, each synthesis.\n\n{quality}",
            path=DOCS / "vae.md")


if __name__ == "__main__":
    main()
