"""``sktimbre demo``: fit on the built-in data and write a listening page."""

import html
import json
import time
from pathlib import Path

from ._cli_text import write_text

DEMO_ALPHAS = (0.0, 0.5, 1.0)
# The judge's P(flute) along alpha; it holds the page's alphas.
SWEEP_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def run_demo(args):
    from sklearn.pipeline import Pipeline

    from . import SpectrogramTransformer, TimbreVAE, convert
    from .datasets import load_default
    from .io import save_audio
    from .metrics import (
        InstrumentClassifier,
        estimate_f0,
        log_spectral_distance,
        raw_pitch_accuracy,
    )
    from .plotting import plot_alpha_spectrograms, plot_alpha_sweep, plot_history

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print("Rendering the default data (violin and flute)...", flush=True)
    data = load_default()
    model = TimbreVAE(random_state=args.seed, verbose=1)
    if args.max_epochs is not None:
        model.set_params(max_epochs=args.max_epochs)
    pipe = Pipeline([("spec", SpectrogramTransformer()), ("vae", model)])
    print("Fitting TimbreVAE...", flush=True)
    pipe.fit(data.violin, data.flute)
    classifier = InstrumentClassifier().fit(
        data.violin + data.flute, [0] * len(data.violin) + [1] * len(data.flute))
    pieces = {"violin": (data.test_violin[0], data.test_flute[0]),
              "flute": (data.test_flute[0], data.test_violin[0])}
    report = {"seconds": None, "pieces": {}}
    for name, (source, other) in pieces.items():
        print(f"Converting the {name} piece...", flush=True)
        save_audio(out / f"{name}_input.wav", source, data.sr)
        # Each alpha is rendered and judged once: the page's renders are
        # points of the sweep.
        rendered = {alpha: convert(pipe, source, alpha=alpha) for alpha in SWEEP_ALPHAS}
        p_flute = classifier.predict_proba([source, *rendered.values()])[:, 1].tolist()
        input_p_flute, sweep = p_flute[0], p_flute[1:]
        converted = {alpha: rendered[alpha] for alpha in DEMO_ALPHAS}
        figures = {}
        # pYIN is the slow part of the figures: the input's f0 is tracked once.
        source_f0 = estimate_f0(source, sr=data.sr)
        for alpha, audio in converted.items():
            save_audio(out / f"{name}_alpha{alpha:.1f}.wav", audio, data.sr)
            target = other if (alpha == 1.0) == (name == "violin") else source
            figures[f"{alpha:.1f}"] = {
                "pitch_accuracy": round(raw_pitch_accuracy(
                    source, audio, sr=data.sr, ref_f0=source_f0), 3),
                "p_flute": round(sweep[SWEEP_ALPHAS.index(alpha)], 3),
                "lsd_to_" + ("flute" if alpha == 1.0 else "violin")
                if alpha in (0.0, 1.0) else "lsd_to_input":
                round(log_spectral_distance(target if alpha in (0.0, 1.0) else source,
                                            audio), 2),
            }
        plot_alpha_spectrograms(source, converted, sr=data.sr,
                                path=out / f"{name}_spectrograms.png",
                                source_label=f"{name} input")
        plot_alpha_sweep(SWEEP_ALPHAS, sweep, path=out / f"{name}_sweep.png",
                         label="P(flute)")
        report["pieces"][name] = {"alphas": figures,
                                  "p_flute_sweep": [round(p, 3) for p in sweep],
                                  "input_p_flute": round(input_p_flute, 3)}
    plot_history(pipe["vae"].history_, path=out / "training.png")
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["fit"] = {"epochs": pipe["vae"].n_epochs_,
                     "seconds": round(pipe["vae"].fit_time_, 1),
                     "latent_domain_accuracy": round(
                         pipe["vae"].history_["latent_domain_accuracy"], 3)}
    write_text(out / "report.json", json.dumps(report, indent=2))
    write_text(out / "index.html", _page(report, data.sr))
    print(_summary(report))
    print(f"Wrote {out}/index.html, .wav files, pictures and report.json")
    return 0


def _summary(report):
    lines = [f"Demo finished in {report['seconds']} s "
             f"({report['fit']['epochs']} epochs)."]
    for name, piece in report["pieces"].items():
        for alpha, figures in piece["alphas"].items():
            lines.append(f"  {name} alpha={alpha}: " + ", ".join(
                f"{k}={v}" for k, v in figures.items()))
        lines.append(f"  {name} P(flute) along alpha 0..1: {piece['p_flute_sweep']}")
    return "\n".join(lines)


def _page(report, sr):
    cells = []
    for name, piece in report["pieces"].items():
        row = [f"<h2>{name.title()} piece</h2>",
               f'<img src="{name}_spectrograms.png" alt="spectrograms of the {name} '
               'piece at each alpha">', '<div class="row">',
               _player(f"{name}_input.wav", f"{name} input",
                       {"P(flute)": piece["input_p_flute"]})]
        for alpha, figures in piece["alphas"].items():
            row.append(_player(f"{name}_alpha{alpha}.wav", f"alpha = {alpha}", figures))
        row.append("</div>")
        row.append(f'<img src="{name}_sweep.png" alt="P(flute) along alpha">')
        cells.append("\n".join(row))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>sktimbre demo</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 72em; }}
.row {{ display: flex; gap: 1em; flex-wrap: wrap; }}
.card {{ border: 1px solid #ccc; padding: .6em; border-radius: 6px; }}
img {{ max-width: 100%; }}
table {{ font-size: .85em; }}
</style></head><body>
<h1>sktimbre demo: violin &harr; flute</h1>
<p>A TimbreVAE fitted in {report['fit']['seconds']} s on the built-in unpaired
violin and flute clips renders held-out pieces at alpha 0 (violin), 0.5 (one
blended voice) and 1 (flute). Figures: pitch accuracy against the input (pYIN,
50 cents), P(flute) from an instrument classifier, log-spectral distance in
dB. Audio at {sr} Hz.</p>
{''.join(cells)}
<h2>Training</h2><img src="training.png" alt="training curves">
</body></html>
"""


def _player(src, label, figures):
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v}</td></tr>"
                   for k, v in figures.items())
    return (f'<div class="card"><b>{html.escape(label)}</b><br>'
            f'<audio controls preload="auto" src="{src}"></audio>'
            f"<table>{rows}</table></div>")
