"""Does a conversion sound like the target, keep the pitch, and follow alpha?

On the default data's held-out paired pieces (each rendered by both
instruments from the same notes): log-spectral distance (LSD) and mel-cepstral
distortion (MCD) to the target instrument's own rendering, against baselines
measured in the same run: doing nothing, a match-EQ filter, and the
Griffin-Lim round trip of the true target (the floor of a magnitude model).
Then pitch kept (raw pitch accuracy, pYIN, 50 cents), P(flute) of an
instrument classifier trained on the training clips along alpha,
reconstruction at the input's own timbre, fit time and real-time factor.

With ``--source`` the same measures run on other renderings of the default
data (``load_default(source=..., room=...)``): each model is fitted and judged
on each source's own clips, one table per source, and a summary whose rows
are the worst case over the sources. The default source alone writes the
detailed "Conversion quality" section (and the pictures); several sources
write "Conversion quality on every source" and one section per source.

With ``--soundfont`` the same measures run on test material the models were
never tuned on: another General MIDI soundfont playing other melodies
(``--melodies``, not the development data's 0), dry and recorded (rooms
and noise drawn as for the development sources). It writes "Conversion quality on unseen
material". No default is ever chosen on these figures: they say how the
defaults chosen on the development sources hold for a user's own sounds.

    python benchmarks/quality.py [--model vae|cyclegan|both] [--device cpu]
                                 [--source timgm6mb csound timgm6mb-recorded
                                  csound-recorded | all] [--jobs N]
                                 [--random-state N]
                                 [--soundfont FILE.sf2 ... [--melodies N]]
"""

import argparse
import re
import time
from pathlib import Path

import numpy as np
import torch
from _common import (
    SOURCES,
    UNSEEN_MELODIES,
    load_source,
    load_unseen,
    machine,
    markdown_table,
    unseen_sources,
    write_section,
)
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from sktimbre import MatchEQ, SpectrogramTransformer, TimbreVAE, convert
from sktimbre.datasets import load_default
from sktimbre.metrics import (
    InstrumentClassifier,
    blend_gap,
    estimate_f0,
    log_spectral_distance,
    mel_cepstral_distortion,
    raw_pitch_accuracy,
)
from sktimbre.plotting import (
    plot_alpha_spectrograms,
    plot_alpha_sweep,
    plot_blend_grid,
    plot_history,
)

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "img"
SHORT = {"TimbreVAE": "vae", "TimbreCycleGAN": "cyclegan"}
DEFAULT_SOURCE = "timgm6mb"
MCD_CONVENTION = (
    "MCD is (10 / ln 10) sqrt(2 sum_k (c_k - c'_k)^2) per frame, averaged over "
    "frames aligned by time, with c_1..c_24 the orthonormal DCT-II of the "
    "natural-log power mel spectrogram (80 mels, n_fft 1024, hop 256; c_0, the "
    "level, left out): log power rather than the log amplitude of speech "
    "toolkits, so its values run about twice theirs."
)


def models(device, causal=False, random_state=0):
    out = {"TimbreVAE": TimbreVAE(random_state=random_state, device=device,
                                  causal=causal)}
    try:
        from sktimbre import TimbreCycleGAN
    except ImportError:
        return out
    out["TimbreCycleGAN"] = TimbreCycleGAN(random_state=random_state, device=device)
    return out


def distances(reference, estimate, sr):
    return (log_spectral_distance(reference, estimate, sr=sr),
            mel_cepstral_distortion(reference, estimate, sr=sr))


def level_error(references, estimates):
    """Mean level of the estimates over their references, in dB RMS."""
    return float(np.mean([20 * np.log10(np.sqrt(np.mean(np.square(est)))
                                        / np.sqrt(np.mean(np.square(ref))))
                          for ref, est in zip(references, estimates)]))


def baseline_rows(data):
    sr = data.sr
    va, fl = data.test_violin, data.test_flute
    eq = MatchEQ().fit(data.violin, data.flute)
    spec = SpectrogramTransformer().fit(data.violin, data.flute)

    def griffin_lim(clips):
        return spec.inverse_transform([np.asarray(s) for s in spec.transform(clips)],
                                      lengths=[len(c) for c in clips])

    # Each baseline's violin-to-flute and flute-to-violin outputs.
    outputs = {
        "identity (no change)": (va, fl),
        "match-EQ": (eq.transform(va), eq.inverse_transform(fl)),
        "Griffin-Lim round trip of the target (floor)": (griffin_lim(fl),
                                                         griffin_lim(va)),
    }
    rows = {name: (distances(fl, to_flute, sr), distances(va, to_violin, sr))
            for name, (to_flute, to_violin) in outputs.items()}
    return rows, griffin_lim, outputs


def p_target(classifier, to_flute, to_violin):
    """Mean P(flute) of the violin-to-flute outputs, P(violin) of the others."""
    return (float(np.mean(classifier.predict_proba(to_flute)[:, 1])),
            float(np.mean(classifier.predict_proba(to_violin)[:, 0])))


def evaluate(name, estimator, data, classifier, griffin_lim, ref_f0, pictures=True,
             blend_name=None):
    sr = data.sr
    va, fl = data.test_violin, data.test_flute
    pipe = Pipeline([("spec", SpectrogramTransformer()), ("model", estimator)])
    start = time.perf_counter()
    pipe.fit(data.violin, data.flute)
    fit_s = time.perf_counter() - start
    model = pipe["model"]
    if "conversion_level_error_db" in model.history_:
        print(f"{name} on {blend_name}: conversion level error "
              f"{model.history_['conversion_level_error_db']:.2f} dB", flush=True)
    start = time.perf_counter()
    to_flute = convert(pipe, va, alpha=1.0)
    convert_s = time.perf_counter() - start
    to_violin = convert(pipe, fl, alpha=0.0)
    seconds = sum(len(c) for c in va) / sr
    sweep = {a: convert(pipe, va, alpha=a) if a < 1 else to_flute for a in ALPHAS}
    sweep_b = {a: convert(pipe, fl, alpha=a) if a > 0 else to_violin for a in ALPHAS}
    pitch = {a: np.mean([
        raw_pitch_accuracy(va, sweep[a], sr=sr, ref_f0=ref_f0["va"]),
        raw_pitch_accuracy(fl, sweep_b[a], sr=sr, ref_f0=ref_f0["fl"])])
        for a in (0.0, 0.5, 1.0)}
    def mean_p_flute(*converted):
        return float(np.mean(np.concatenate(
            [classifier.predict_proba(clips)[:, 1] for clips in converted])))

    p_flute = {a: mean_p_flute(sweep[a], sweep_b[a]) for a in ALPHAS}
    p_flute_equal_steps = None
    if getattr(model, "alpha_curve_", None) is not None:
        # The same fit walked in equal steps, as with calibrate_alpha=False:
        # the spacing is set after training and leaves the weights alone.
        curve = model.alpha_curve_
        model.alpha_curve_ = np.tile(np.linspace(0.0, 1.0, 11), (2, 1))
        p_flute_equal_steps = {a: p_flute[a] if a in (0.0, 1.0) else mean_p_flute(
            convert(pipe, va, alpha=a), convert(pipe, fl, alpha=a)) for a in ALPHAS}
        model.alpha_curve_ = curve
    clips = va + fl
    spec = pipe["spec"]

    def own_timbre(keep_detail):
        if hasattr(model, "keep_detail"):
            model.set_params(keep_detail=keep_detail)
        out = []
        for clip in clips:
            S = spec.transform(clip)
            source = model._estimate_source_alpha(S)
            out.append(spec.inverse_transform(model.transform(S, alpha=source)))
        return log_spectral_distance(clips, out, sr=sr)

    recon = own_timbre(1.0)
    decoder_only = own_timbre(0.0) if hasattr(model, "keep_detail") else None
    if hasattr(model, "keep_detail"):
        model.set_params(keep_detail=1.0)
    cycle = log_spectral_distance(
        clips, [pipe.inverse_transform(pipe.transform(c)) for c in clips], sr=sr)
    # Full translation to the other instrument and back with inverse_transform.
    cycle_full = log_spectral_distance(clips, [
        spec.inverse_transform(model.inverse_transform(
            model.transform(spec.transform(c), alpha=1.0 - i // len(va))))
        for i, c in enumerate(clips)], sr=sr)
    if blend_name is not None:
        IMAGES.mkdir(parents=True, exist_ok=True)
        plot_blend_grid(va[0], fl[0], {a: sweep[a][0] for a in ALPHAS},
                        {a: sweep_b[a][0] for a in ALPHAS}, sr=sr,
                        labels=("violin", "flute"),
                        path=IMAGES / f"{SHORT.get(name, name.lower())}_blend_"
                                      f"{blend_name}.png")
    if pictures:
        save_pictures(SHORT.get(name, name.lower()), model, va[0],
                      {a: sweep[a][0] for a in (0.0, 0.5, 1.0)}, p_flute, sr)
    floor = log_spectral_distance(clips, griffin_lim(clips), sr=sr)
    return {
        "a2b": distances(fl, to_flute, sr), "b2a": distances(va, to_violin, sr),
        "level": (level_error(fl, to_flute), level_error(va, to_violin)),
        "pitch": pitch, "p_flute": p_flute, "p_flute_equal_steps": p_flute_equal_steps,
        "p_target": p_target(classifier, to_flute, to_violin),
        "p_flute_sides": (mean_p_flute(sweep[0.5]), mean_p_flute(sweep_b[0.5])),
        "blend_gap": blend_gap(sweep[0.5], sweep_b[0.5], sr=sr),
        "alpha_curve": getattr(model, "alpha_curve_", None),
        "change_db": getattr(model, "change_db_", None),
        "recon": recon, "recon_floor": floor,
        "decoder_only": decoder_only, "cycle": cycle, "cycle_full": cycle_full,
        "fit_s": fit_s, "epochs": model.n_epochs_, "rtf": seconds / convert_s,
        "latent": model.history_.get("latent_domain_accuracy"),
    }


def save_pictures(short, model, piece, converted, p_flute, sr):
    """Spectrograms along alpha, training curves and the alpha sweep for docs/."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    plot_alpha_spectrograms(piece, converted, sr=sr, source_label="violin input",
                            path=IMAGES / f"{short}_alphas.png")
    plot_history(model.history_, path=IMAGES / f"{short}_history.png")
    plot_alpha_sweep(list(p_flute), list(p_flute.values()), label="P(flute)",
                     path=IMAGES / f"{short}_sweep.png")


def side_by_side(results, eq_a2b, eq_b2a):
    """The models' headline figures in columns, and their pictures."""
    names = list(results)
    rows = [
        ["A->B LSD (dB; match-EQ " + f"{eq_a2b:.2f})",
         *[f"{results[n]['a2b'][0]:.2f}" for n in names]],
        ["B->A LSD (dB; match-EQ " + f"{eq_b2a:.2f})",
         *[f"{results[n]['b2a'][0]:.2f}" for n in names]],
        *[[f"pitch accuracy at alpha {a}",
           *[f"{results[n]['pitch'][a]:.3f}" for n in names]] for a in (0.0, 0.5, 1.0)],
        ["P(flute) at alpha 0 / 0.5 / 1",
         *[" / ".join(f"{results[n]['p_flute'][a]:.2f}" for a in (0.0, 0.5, 1.0))
           for n in names]],
        ["level vs target A->B / B->A (dB RMS)",
         *[" / ".join(f"{v:+.1f}" for v in results[n]["level"]) for n in names]],
        ["full cycle LSD (dB)", *[f"{results[n]['cycle_full']:.2f}" for n in names]],
        ["fit (s)", *[f"{results[n]['fit_s']:.0f}" for n in names]],
    ]
    pictures = "\n\n".join(
        f"**{n}**: the first held-out violin piece at alpha 0, 0.5 and 1, the "
        f"training curves and P(flute) along alpha.\n\n"
        f"![{n} spectrograms](img/{SHORT[n]}_alphas.png)\n\n"
        f"![{n} training curves](img/{SHORT[n]}_history.png) "
        f"![{n} alpha sweep](img/{SHORT[n]}_sweep.png)"
        for n in names if n in SHORT)
    return ("### Side by side\n\nSame pieces, same run.\n\n"
            + markdown_table(["", *names], rows) + "\n\n" + pictures + "\n")


def measure(data, chosen, *, pictures, blend_name=None):
    """Baselines and models on one rendering of the default data."""
    torch.manual_seed(0)  # a source's figures do not depend on which ran before
    base, griffin_lim, outputs = baseline_rows(data)
    classifier = InstrumentClassifier().fit(
        data.violin + data.flute, [0] * len(data.violin) + [1] * len(data.flute))
    ref_f0 = {"va": [estimate_f0(c, sr=data.sr) for c in data.test_violin],
              "fl": [estimate_f0(c, sr=data.sr) for c in data.test_flute]}
    results = {name: evaluate(name, clone(est), data, classifier, griffin_lim,
                              ref_f0, pictures=pictures, blend_name=blend_name)
               for name, est in chosen.items()}
    judged = {name: p_target(classifier, *pair) for name, pair in outputs.items()}
    identity_gap = blend_gap(data.test_violin, data.test_flute, sr=data.sr)
    target = target_row(data, classifier, ref_f0)
    return base, results, judged, identity_gap, target


TARGET = "the target instrument's own rendering (a perfect conversion)"


def target_row(data, classifier, ref_f0):
    """What the conversion each model is scored against scores itself.

    The other instrument's rendering of the same notes is the reference of
    every distance, so its LSD is 0; but it has its own intonation and note
    lengths, so its pitch accuracy against the input, like the judge's
    P(target) on it, is the most a conversion can be expected to reach.
    """
    sr, va, fl = data.sr, data.test_violin, data.test_flute
    to_flute, to_violin = p_target(classifier, fl, va)
    # At alpha 0 the violin piece is its own target, which keeps every
    # voiced frame's pitch (1 exactly), and the flute piece's is the violin
    # playing its notes; at alpha 1 the other way round.
    return {"P(target) at alpha 1 (A->B)": to_flute,
            "P(target) at alpha 0 (B->A)": to_violin,
            "pitch acc. alpha 0.0": float(np.mean([
                1.0, raw_pitch_accuracy(fl, va, sr=sr, ref_f0=ref_f0["fl"])])),
            "pitch acc. alpha 1.0": float(np.mean([
                raw_pitch_accuracy(va, fl, sr=sr, ref_f0=ref_f0["va"]), 1.0]))}


def source_rows(base, results, judged, identity_gap, target=None):
    """Rows (method, {column: value}) of one source's table; None is blank."""
    eq_a2b, eq_b2a = base["match-EQ"][0][0], base["match-EQ"][1][0]
    rows = [] if target is None else [(TARGET, target)]
    for name, (a2b, b2a) in base.items():
        rows.append((name, {
            "A->B LSD (dB)": a2b[0], "A->B MCD (dB)": a2b[1],
            "B->A LSD (dB)": b2a[0], "B->A MCD (dB)": b2a[1],
            "P(target) at alpha 1 (A->B)": judged[name][0],
            "P(target) at alpha 0 (B->A)": judged[name][1],
            "blend gap at alpha 0.5 (dB)": (identity_gap if name.startswith(
                "identity") else None)}))
    for name, r in results.items():
        rows.append((name, {
            "A->B LSD (dB)": r["a2b"][0], "A->B MCD (dB)": r["a2b"][1],
            "B->A LSD (dB)": r["b2a"][0], "B->A MCD (dB)": r["b2a"][1],
            "LSD vs match-EQ A->B (%)": 100 * (1 - r["a2b"][0] / eq_a2b),
            "LSD vs match-EQ B->A (%)": 100 * (1 - r["b2a"][0] / eq_b2a),
            "P(target) at alpha 1 (A->B)": r["p_target"][0],
            "P(target) at alpha 0 (B->A)": r["p_target"][1],
            **{f"pitch acc. alpha {a}": r["pitch"][a] for a in (0.0, 0.5, 1.0)},
            "blend gap at alpha 0.5 (dB)": r["blend_gap"],
            "P(flute) at alpha 0.5 from A": r["p_flute_sides"][0],
            "P(flute) at alpha 0.5 from B": r["p_flute_sides"][1],
            "fit (s)": r["fit_s"], "conversion x real time": r["rtf"]}))
    return rows


# Column: (format, True where a larger value is worse).
SOURCE_COLUMNS = {
    "A->B LSD (dB)": (".2f", True), "A->B MCD (dB)": (".2f", True),
    "B->A LSD (dB)": (".2f", True), "B->A MCD (dB)": (".2f", True),
    "LSD vs match-EQ A->B (%)": ("+.0f", False),
    "LSD vs match-EQ B->A (%)": ("+.0f", False),
    "P(target) at alpha 1 (A->B)": (".2f", False),
    "P(target) at alpha 0 (B->A)": (".2f", False),
    "pitch acc. alpha 0.0": (".3f", False), "pitch acc. alpha 0.5": (".3f", False),
    "pitch acc. alpha 1.0": (".3f", False),
    "blend gap at alpha 0.5 (dB)": (".2f", True),
    # Neither side is worse in itself: the worst is the farthest from 0.5.
    "P(flute) at alpha 0.5 from A": (".2f", None),
    "P(flute) at alpha 0.5 from B": (".2f", None),
    "fit (s)": (".0f", True), "conversion x real time": (".0f", False),
}


def _cell(column, value):
    if value is None:
        return ""
    text = format(value, SOURCE_COLUMNS[column][0])
    return text + ("x" if column.startswith("conversion") else "")


def source_table(rows):
    return markdown_table(["method", *SOURCE_COLUMNS], [
        [name, *[_cell(c, values.get(c)) for c in SOURCE_COLUMNS]]
        for name, values in rows])


def worst_case_table(per_source):
    """Per method, each column's worst value over the sources, and where."""
    methods = list(dict.fromkeys(name for rows in per_source.values()
                                 for name, _ in rows))
    table = []
    for method in methods:
        cells = [method]
        for column, (_, larger_is_worse) in SOURCE_COLUMNS.items():
            found = [(values[column], source) for source, rows in per_source.items()
                     for name, values in rows
                     if name == method and values.get(column) is not None]
            if not found:
                cells.append("")
                continue
            if larger_is_worse is None:
                worst = max(found, key=lambda item: abs(item[0] - 0.5))
            else:
                worst = (max if larger_is_worse else min)(found, key=lambda i: i[0])
            cells.append(f"{_cell(column, worst[0])} ({worst[1]})")
        table.append(cells)
    return markdown_table(["method", *SOURCE_COLUMNS], table)


def measure_source(source, chosen, causal, threads, unseen=None,
                   melodies=UNSEEN_MELODIES):
    """One source's rows and description: a job of its own (see ``--jobs``).

    ``unseen``: the (soundfont, room) of a test source, whose data plays the
    melodies of ``melodies``; None for a development source.
    """
    torch.set_num_threads(threads)
    start = time.perf_counter()
    data = load_source(source) if unseen is None else load_unseen(unseen, melodies)
    print(f"{source}: data ready in {time.perf_counter() - start:.0f} s", flush=True)
    # A causal run leaves the default run's pictures as they are, and test
    # material draws none of its own.
    base, results, judged, identity_gap, target = measure(
        data, chosen, pictures=False,
        blend_name=None if causal or unseen else source)
    # The soundfont by file name: the folder is this machine's.
    description = re.sub(r"(?<=[( ])/\S*/([^/\s)]+)", r"\1",
                         data.DESCR.split("\n\n")[-1])
    return (source, source_rows(base, results, judged, identity_gap, target),
            description)


def seed_option(args):
    """The ``--random-state`` of a command line, where not the default."""
    return f" --random-state {args.random_state}" if args.random_state else ""


def write_sources(args, sources, chosen, unseen=None):
    """Measure each source and write its sections; ``unseen``: test sources."""
    per_source, descriptions = {}, {}
    threads = max(1, torch.get_num_threads() // args.jobs)
    jobs = Parallel(n_jobs=args.jobs, return_as="generator")(
        delayed(measure_source)(source, chosen, args.causal, threads,
                                None if unseen is None else unseen[source],
                                args.melodies)
        for source in sources)
    for source, rows, description in jobs:
        per_source[source], descriptions[source] = rows, description
        print(f"\n{source}\n\n{source_table(rows)}\n")
        # After each source, so a long run that stops leaves what it measured.
        if unseen is None:
            write_source_sections(args, per_source, descriptions)
        else:
            write_unseen_section(args, per_source, descriptions)


def section_names(args):
    """The suffix of a run's section names and the label of its headings.

    One model's run, or a causal one, writes sections of its own, so that
    runs can go in several processes at once without overwriting each other.
    """
    suffix = "" if args.model == "both" else f"-{args.model}"
    label = "" if args.model == "both" else f", {args.model}"
    if args.causal:
        suffix, label = suffix + "-causal", label + ", causal"
    return suffix, label


def run_command(args, material):
    """The command line of a run, as its sections quote it."""
    return (f"python benchmarks/quality.py --device {args.device} --model "
            f"{args.model} {material}" + (" --causal" if args.causal else "")
            + seed_option(args))


def write_unseen_section(args, per_source, descriptions):
    """One section: the worst case over the test sources, then each one."""
    device = args.device.split(":")[0]
    suffix, label = section_names(args)
    command = run_command(
        args, "--soundfont "
        + " ".join(dict.fromkeys(Path(f).name for f in args.soundfont))
        + f" --melodies {args.melodies}")
    tables = "".join(
        f"\n\n### Test source {source} ({args.device}{label})\n\n"
        f"{descriptions[source]}\n\n{source_table(rows)}"
        for source, rows in per_source.items())
    write_section(
        f"quality-{device}-unseen{suffix}",
        f"## Conversion quality on unseen material ({args.device}{label})\n\n"
        f"`{command}`: test material the models and their defaults were never "
        "tuned on: a soundfont that no development source uses, playing the "
        f"melodies of `load_default(random_state={args.melodies})` (the "
        "development sources play those of 0), dry and recorded (rooms and "
        "noise drawn as for the development sources' `room=\"recorded\"`). "
        "Measured as on the development sources: 24 + 24 "
        "unpaired training clips of 5 s, 4 held-out paired pieces of 8 s, default "
        f"parameters, random_state={args.random_state}. Machine: {machine()}.\n\n"
        "Worst case over the test sources:\n\n"
        f"{worst_case_table(per_source)}{tables}")


def write_source_sections(args, per_source, descriptions):
    """The worst case over the sources measured so far, and one section each."""
    sources = list(per_source)
    device = args.device.split(":")[0]
    command = run_command(args, f"--source {' '.join(sources)}")
    summary = worst_case_table(per_source)
    suffix, label = section_names(args)
    print(f"worst case over {', '.join(sources)}\n\n{summary}")
    write_section(
        f"quality-{device}-sources{suffix}",
        f"## Conversion quality on every source ({args.device}{label})\n\n"
        f"`{command}`: the default data rendered from each source (see "
        "[Data](data.md)), each model fitted and judged on that source's own "
        "clips: 24 + 24 unpaired training clips of 5 s, 4 held-out paired "
        "pieces of 8 s, violin = A, flute = B; distances to the target "
        "instrument's own rendering of the same notes; default parameters, "
        f"random_state={args.random_state}. Machine: {machine()}.\n\n"
        "Worst case over the sources: each cell is the worst value of its "
        "column over the sources (largest distance, gap and fit time, smallest "
        "gain, probability of the target, pitch accuracy and speed; for "
        "P(flute) at alpha 0.5 the farthest from 0.5), with the source it came "
        f"from.\n\n{summary}\n\n"
        "P(target): an InstrumentClassifier (features that a fixed EQ cannot move, so "
        "match-EQ's row stays near its source) trained on the source's training clips "
        "judges the violin-to-flute outputs at alpha 1 (P(flute)) and the "
        "flute-to-violin outputs at alpha 0 (P(violin)). Pitch accuracy: pYIN raw "
        "pitch accuracy (50 cents) between input and output, mean of both directions. "
        "The target instrument's own rendering of the same notes, the reference of "
        "every distance, is scored as a conversion would be: its pitch accuracy "
        "against the input (its intonation and note lengths are its own) and the "
        "judge's P(target) on it are what a perfect conversion reaches. "
        "Blend gap: blend_gap, the LSD between the alpha 0.5 renderings of a violin "
        "piece and of its paired flute piece (for identity, between the inputs). "
        "P(flute) at alpha 0.5 from A and from B: the classifier on each side's alpha "
        f"0.5 rendering. {MCD_CONVENTION} Conversion speed covers spectrogram, model "
        "and Griffin-Lim.")
    for source in sources:
        blend = "".join(
            f"\n\n![{name}: the same notes from violin and flute along alpha, "
            f"{source}](img/{SHORT[name]}_blend_{source}.png)"
            for name in SHORT if (IMAGES / f"{SHORT[name]}_blend_{source}.png").exists()
            and (args.model == "both" or SHORT[name] == args.model)
            # The pictures are the default networks' run.
            and not args.causal)
        write_section(
            f"quality-{device}-{source}{suffix}",
            f"### Source {source} ({args.device}{label})\n\n{descriptions[source]} "
            f"Same run as [the worst case](#conversion-quality-on-every-source-"
            f"{device}{suffix}).\n\n{source_table(per_source[source])}{blend}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="both", choices=["vae", "cyclegan", "both"])
    parser.add_argument("--source", nargs="+", default=[DEFAULT_SOURCE],
                        choices=[*SOURCES, "all"],
                        help="renderings of the default data to measure on")
    parser.add_argument("--causal", action="store_true",
                        help="fit TimbreVAE(causal=True), the low-latency "
                             "networks of streaming (one named --source only)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="sources measured at once, each in a process of "
                             "its own with its share of the torch threads")
    parser.add_argument("--random-state", type=int, default=0,
                        help="seed of every model fitted (the spread between "
                             "seeds is the run-to-run spread)")
    parser.add_argument("--soundfont", nargs="+", type=Path,
                        help="measure on unseen test material instead: each "
                             "General MIDI .sf2 or .sf3 file rendered dry and recorded")
    parser.add_argument("--melodies", type=int, default=UNSEEN_MELODIES,
                        help="with --soundfont: the load_default random_state "
                             "whose melodies the test material plays")
    args = parser.parse_args()
    if args.causal and args.source == [DEFAULT_SOURCE]:
        parser.error("--causal writes per-source sections: name a --source")
    sources = list(SOURCES) if "all" in args.source else list(
        dict.fromkeys(args.source))
    chosen = {k: v for k, v in models(args.device, args.causal,
                                      args.random_state).items()
              if args.model == "both" or k.lower().endswith(args.model)}
    if args.soundfont:
        missing = [str(f) for f in args.soundfont if not f.is_file()]
        if missing:
            parser.error(f"--soundfont: no such file: {', '.join(missing)}")
        unseen = unseen_sources(args.soundfont)
        write_sources(args, list(unseen), chosen, unseen)
        return
    if sources != [DEFAULT_SOURCE]:
        write_sources(args, sources, chosen)
        return
    data = load_default()
    base, results, *_ = measure(data, chosen, pictures=True)
    eq_a2b, eq_b2a = base["match-EQ"][0][0], base["match-EQ"][1][0]
    rows = [[name, f"{a[0]:.2f}", f"{a[1]:.2f}", f"{b[0]:.2f}", f"{b[1]:.2f}", "", ""]
            for name, (a, b) in base.items()]
    for name, r in results.items():
        gain_a = 100 * (1 - r["a2b"][0] / eq_a2b)
        gain_b = 100 * (1 - r["b2a"][0] / eq_b2a)
        rows.append([name, f"{r['a2b'][0]:.2f}", f"{r['a2b'][1]:.2f}",
                     f"{r['b2a'][0]:.2f}", f"{r['b2a'][1]:.2f}",
                     f"{gain_a:+.0f}%", f"{gain_b:+.0f}%"])
    conversion = markdown_table(
        ["method", "A->B LSD (dB)", "A->B MCD (dB)", "B->A LSD (dB)",
         "B->A MCD (dB)", "LSD vs match-EQ A->B", "LSD vs match-EQ B->A"], rows)
    control = markdown_table(
        ["model", *[f"P(flute) at alpha={a}" for a in ALPHAS],
         *[f"pitch acc. alpha={a}" for a in (0.0, 0.5, 1.0)]],
        [[name, *[f"{r['p_flute'][a]:.2f}" for a in ALPHAS],
          *[f"{r['pitch'][a]:.3f}" for a in (0.0, 0.5, 1.0)]]
         for name, r in results.items()]
        + [[f"{name}, same fit in equal steps (calibrate_alpha=False)",
            *[f"{r['p_flute_equal_steps'][a]:.2f}" for a in ALPHAS], "", "", ""]
           for name, r in results.items() if r["p_flute_equal_steps"] is not None])
    spacing = "".join(
        f" {name}'s alpha_curve_ puts alpha 0.5 at position "
        f"{r['alpha_curve'][0][5]:.2f} of the violin-to-flute lines and "
        f"{r['alpha_curve'][1][5]:.2f} of the flute-to-violin lines."
        for name, r in results.items() if r["alpha_curve"] is not None) + "".join(
        f" {name}'s change_db_ (the learnt change beyond its fixed filter, the"
        " mean absolute dB over training pieces) is "
        f"{r['change_db'][0]:.2f} dB violin to flute and "
        f"{r['change_db'][1]:.2f} dB flute to violin."
        for name, r in results.items() if r["change_db"] is not None)
    cost = markdown_table(
        ["model", "own-timbre reconstruction LSD (dB)", "decoder alone (dB)",
         "inverse_transform(transform(x)) at alpha 0.5 (dB)",
         "inverse_transform(transform(x)) full translation (dB)",
         "Griffin-Lim round trip LSD (dB)",
         "fit (s)", "epochs", f"conversion x real time ({args.device})",
         "latent domain accuracy"],
        [[name, f"{r['recon']:.2f}",
          "" if r["decoder_only"] is None else f"{r['decoder_only']:.2f}",
          f"{r['cycle']:.2f}", f"{r['cycle_full']:.2f}", f"{r['recon_floor']:.2f}",
          f"{r['fit_s']:.0f}",
          r["epochs"], f"{r['rtf']:.0f}x",
          "" if r["latent"] is None else f"{r['latent']:.2f}"]
         for name, r in results.items()])
    print(conversion, control, cost, sep="\n\n")
    write_section(
        f"quality-{args.device.split(':')[0]}",
        f"## Conversion quality ({args.device})\n\n"
        f"`python benchmarks/quality.py --device {args.device}{seed_option(args)}`: "
        "4 held-out pieces "
        "of 8 s, violin = A, flute = B; distances to the target instrument's own "
        "rendering of the same notes; default parameters, "
        f"random_state={args.random_state}. Machine: {machine()}.\n\n{conversion}\n\n"
        "P(flute) from an InstrumentClassifier trained on the training clips "
        "(mean over both directions); pitch accuracy is pYIN raw pitch accuracy "
        f"(50 cents) between input and output.{spacing}\n\n{control}\n\n"
        "Own-timbre reconstruction: x rendered at its own (estimated) alpha, "
        "then Griffin-Lim from the carried phase; with keep_detail=1 (default) "
        "the input's own detail is kept there by design, so the decoder alone "
        "(keep_detail=0) is shown too. The cycle column converts to alpha 0.5 "
        "and back with inverse_transform. "
        "The last cycle column translates fully to the other instrument and "
        "back (the CycleGAN's other generator). "
        "Conversion speed covers spectrogram, model and Griffin-Lim.\n\n"
        f"{cost}\n\n{side_by_side(results, eq_a2b, eq_b2a)}",
    )


if __name__ == "__main__":
    main()
