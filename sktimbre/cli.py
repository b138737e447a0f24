"""The ``sktimbre`` command: demo, fit, convert, info.

Errors print on one line to stderr with exit code 1 (2 for bad usage, as
argparse does); ``--debug`` shows the traceback.
"""

import argparse
import html
import json
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main"]

DEMO_ALPHAS = (0.0, 0.5, 1.0)


def _demo(args):
    from sklearn.pipeline import Pipeline

    from . import SpectrogramTransformer, TimbreVAE, convert
    from .datasets import load_default
    from .io import save_audio
    from .metrics import InstrumentClassifier, log_spectral_distance, raw_pitch_accuracy
    from .plotting import plot_alpha_spectrograms, plot_alpha_sweep, plot_history

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print("Rendering the default data (violin and flute)...", flush=True)
    data = load_default()
    pipe = Pipeline([
        ("spec", SpectrogramTransformer()),
        ("vae", TimbreVAE(random_state=args.seed, verbose=1,
                          max_epochs=args.max_epochs)),
    ])
    print("Fitting TimbreVAE...", flush=True)
    pipe.fit(data.violin, data.flute)
    classifier = InstrumentClassifier().fit(
        data.violin + data.flute, [0] * len(data.violin) + [1] * len(data.flute))
    pieces = {"violin": (data.test_violin[0], data.test_flute[0]),
              "flute": (data.test_flute[0], data.test_violin[0])}
    report = {"seconds": None, "pieces": {}}
    sweep_alphas = np.linspace(0, 1, 5)
    for name, (source, other) in pieces.items():
        print(f"Converting the {name} piece...", flush=True)
        save_audio(out / f"{name}_input.wav", source, data.sr)
        converted = {}
        figures = {}
        for alpha in DEMO_ALPHAS:
            audio = convert(pipe, source, alpha=alpha)
            converted[alpha] = audio
            save_audio(out / f"{name}_alpha{alpha:.1f}.wav", audio, data.sr)
            target = other if (alpha == 1.0) == (name == "violin") else source
            figures[f"{alpha:.1f}"] = {
                "pitch_accuracy": round(raw_pitch_accuracy(source, audio,
                                                           sr=data.sr), 3),
                "p_flute": round(float(classifier.predict_proba([audio])[0, 1]), 3),
                "lsd_to_" + ("flute" if alpha == 1.0 else "violin")
                if alpha in (0.0, 1.0) else "lsd_to_input":
                round(log_spectral_distance(target if alpha in (0.0, 1.0) else source,
                                            audio), 2),
            }
        sweep = [float(classifier.predict_proba([convert(pipe, source, alpha=a)])[0, 1])
                 for a in sweep_alphas]
        plot_alpha_spectrograms(source, converted, sr=data.sr,
                                path=out / f"{name}_spectrograms.png",
                                source_label=f"{name} input")
        plot_alpha_sweep(sweep_alphas, sweep, path=out / f"{name}_sweep.png",
                         label="P(flute)")
        report["pieces"][name] = {"alphas": figures,
                                  "p_flute_sweep": [round(p, 3) for p in sweep],
                                  "input_p_flute": round(float(
                                      classifier.predict_proba([source])[0, 1]), 3)}
    plot_history(pipe["vae"].history_, path=out / "training.png")
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["fit"] = {"epochs": pipe["vae"].n_epochs_,
                     "seconds": round(pipe["vae"].fit_time_, 1),
                     "latent_domain_accuracy": round(
                         pipe["vae"].history_["latent_domain_accuracy"], 3)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "index.html").write_text(_page(report, data.sr))
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


def _parse_params(pairs):
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--param {pair!r} is not key=value; e.g. --param "
                             "latent_dim=32")
        key, value = pair.split("=", 1)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _fit(args):
    import joblib

    from . import TimbreVAE
    from .io import load_audio

    a, sr = _load_many(args.a, load_audio, args.sr)
    b, _ = _load_many(args.b, load_audio, sr)
    if args.model != "vae":
        from . import TimbreCycleGAN as Model
    else:
        Model = TimbreVAE
    params = _parse_params(args.param)
    from . import SpectrogramTransformer

    model = Model(spectrogram=SpectrogramTransformer(sr=sr), verbose=1)
    valid = set(model.get_params())
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {Model.__name__}; "
                         f"valid: {sorted(valid)}")
    model.set_params(**params).fit(a, b)
    model.fit_info_ = {"n_clips": [len(a), len(b)],
                       "seconds": [round(sum(map(len, a)) / sr, 1),
                                   round(sum(map(len, b)) / sr, 1)], "sr": sr}
    if Path(args.output).suffix.lower() in _PICKLE_SUFFIXES:
        joblib.dump(model, args.output)
    else:
        model.save(args.output)
    print(f"Fitted {Model.__name__} in {model.n_epochs_} epochs; saved {args.output}")
    return 0


def _load_many(sources, load_audio, sr):
    clips = []
    for source in sources:
        loaded, sr = load_audio(source, sr=sr)
        clips += loaded if isinstance(loaded, list) else [loaded]
    return clips, sr


# Model files with these extensions are pickled with joblib; any other name
# gets the pickle-free format of ``save``, which loading cannot run code from.
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def _load_model(path):
    import joblib

    from ._base import BaseTimbreModel

    if not Path(path).is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    with open(path, "rb") as head:
        # The safe format is a zip archive from its first byte; a joblib
        # pickle may hold zip data (torch tensors) inside, but not at its start.
        is_archive = head.read(4) == b"PK\x03\x04"
    if is_archive:
        from . import TimbreCycleGAN, TimbreVAE
        from ._persistence import load_model

        # Read without unpickling, as the class the file's manifest names.
        return load_model((TimbreVAE, TimbreCycleGAN), path)
    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - unpickling raises anything
        # A damaged or foreign file fails deep in pickle (KeyError: 110,
        # "invalid load key"): say which file and what it should be.
        raise ValueError(
            f"{path} is not a model file written by `sktimbre fit` "
            f"({type(exc).__name__}: {exc}); fit one with `sktimbre fit`."
        ) from exc
    if not isinstance(model, BaseTimbreModel):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a timbre model")
    if not hasattr(model, "history_"):
        raise ValueError(f"{path} holds an unfitted {type(model).__name__}; "
                         "fit one with `sktimbre fit`.")
    return model


def _convert(args):
    from .io import load_audio, save_audio

    model = _load_model(args.model)
    sr = model.spectrogram_.sr
    y, file_sr = load_audio(args.input)
    resampled, _ = load_audio(args.input, sr=sr)
    alphas = np.linspace(0, 1, args.sweep) if args.sweep else [args.alpha]
    output = Path(args.output)
    for alpha in alphas:
        audio = model.transform(resampled, alpha=float(alpha))
        if file_sr != sr:
            import soxr

            audio = soxr.resample(audio, sr, file_sr)
        audio = np.pad(audio, (0, max(0, len(y) - len(audio))))[: len(y)]
        path = output if not args.sweep else output.with_name(
            f"{output.stem}_alpha{alpha:.2f}{output.suffix}")
        save_audio(path, audio, file_sr)
        print(f"alpha={alpha:.2f} -> {path}")
    return 0


def _info(args):
    import sklearn
    import torch

    from . import __version__

    model = _load_model(args.model)
    history = model.history_
    info = {
        "model": type(model).__name__,
        "params": {k: repr(v) for k, v in model.get_params(deep=False).items()},
        "epochs": model.n_epochs_,
        "final_losses": {k: v[-1] for k, v in history.items()
                         if isinstance(v, list) and v},
        "fitted_on": getattr(model, "fit_info_", {"n_clips": list(model.n_clips_)}),
        "sample_rate": model.spectrogram_.sr,
        "versions": {"sktimbre": __version__, "torch": torch.__version__,
                     "scikit-learn": sklearn.__version__},
    }
    print(json.dumps(info, indent=2, default=str))
    return 0


def _at_least_two(text):
    count = int(text)
    if count < 2:
        raise argparse.ArgumentTypeError(
            f"{count} is too few: a sweep writes N >= 2 files from alpha 0 to 1; "
            "use --alpha for one file")
    return count


def _parser():
    parser = argparse.ArgumentParser(
        prog="sktimbre", description="Learn two instruments' timbres and render "
        "music in a voice between them.")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit on the built-in data and write a "
                          "listening page")
    demo.add_argument("--out", default="demo-output", help="output folder")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--max-epochs", type=int, default=80)
    demo.set_defaults(run=_demo)
    fit = sub.add_parser("fit", help="fit a model on two instruments' files")
    fit.add_argument("--a", nargs="+", required=True, help="instrument A files/folders")
    fit.add_argument("--b", nargs="+", required=True, help="instrument B files/folders")
    fit.add_argument("--model", choices=["vae", "cyclegan"], default="vae")
    fit.add_argument("--param", action="append", help="estimator parameter k=v")
    fit.add_argument("--sr", type=int, default=22050)
    fit.add_argument("-o", "--output", required=True,
                     help="model file: .joblib/.pkl pickles it with joblib, "
                          "any other name (e.g. model.sktimbre) writes the "
                          "pickle-free format of TimbreVAE.save")
    fit.set_defaults(run=_fit)
    conv = sub.add_parser("convert", help="convert a file with a fitted model")
    conv.add_argument("model")
    conv.add_argument("input")
    group = conv.add_mutually_exclusive_group()
    group.add_argument("--alpha", type=float, default=0.5)
    group.add_argument("--sweep", type=_at_least_two,
                       help="write N files, alpha 0..1")
    conv.add_argument("-o", "--output", required=True)
    conv.set_defaults(run=_convert)
    info = sub.add_parser("info", help="describe a fitted model")
    info.add_argument("model")
    info.set_defaults(run=_info)
    return parser


def main(argv=None):
    """Entry point of the ``sktimbre`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("sktimbre: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line per error, by design
        if args.debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"sktimbre: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
