"""The ``sktimbre`` command: demo, fit, convert, info, export.

Errors print on one line to stderr with exit code 1 (2 for bad usage, as
argparse does); ``--debug`` shows the traceback.
"""

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from ._export import add_export_command

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
    _write_text(out / "report.json", json.dumps(report, indent=2))
    _write_text(out / "index.html", _page(report, data.sr))
    print(_summary(report))
    print(f"Wrote {out}/index.html, .wav files, pictures and report.json")
    return 0


def _write_text(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def _printable(text):
    """``text`` with control and other non-printable characters escaped, so
    that a string read from a file cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


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
    from . import SpectrogramTransformer, TimbreCycleGAN, TimbreVAE
    from .io import load_audio

    a, sr = _load_many(args.a, load_audio, args.sr)
    b, _ = _load_many(args.b, load_audio, sr)
    Model = TimbreVAE if args.model == "vae" else TimbreCycleGAN
    params = _parse_params(args.param)
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
    _write_model(model, args.output)
    print(f"Fitted {Model.__name__} in {model.n_epochs_} epochs; saved {args.output}")
    if _is_pickle_name(args.output):
        print(f"{args.output} is a pickle: `sktimbre info` and `sktimbre convert` "
              "read it only with --trust-pickle; any other name than "
              ".joblib/.pkl/.pickle (e.g. model.skt) writes the pickle-free "
              "format, which they read as it is.")
    return 0


def _write_model(model, output):
    """Save with joblib for a pickle's name, else in the pickle-free format;
    whole or not at all, so a failed save keeps the previous model."""
    if not _is_pickle_name(output):
        model.save(output)  # writes through a temporary file itself
        return
    import joblib

    with atomic_path(output) as temporary, open(temporary, "wb") as handle:
        # An open file: joblib would read a format from the name.
        joblib.dump(model, handle)


def _load_many(sources, load_audio, sr):
    clips = []
    for source in sources:
        loaded, sr = load_audio(source, sr=sr)
        clips += loaded if isinstance(loaded, list) else [loaded]
    return clips, sr


# Model files with these extensions are pickled with joblib; any other name
# gets the pickle-free format of ``save``, which loading cannot run code from.
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# How the pickle-free format starts (a zip archive from its first byte), and
# how pickles and joblib's compressed pickles (zlib, gzip, bz2, xz, lzma, lz4)
# start.
_ARCHIVE_START = b"PK\x03\x04"
_PICKLE_STARTS = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ",
                  b"]\x00\x00", b"\x04\x22\x4d\x18")


def _is_pickle_name(path):
    return Path(path).suffix.lower() in _PICKLE_SUFFIXES


def _load_model(path, *, trust_pickle=False):
    """Read a model file: the pickle-free format always, a pickle only when
    the user passed --trust-pickle, since unpickling runs the file's code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    with open(path, "rb") as handle:
        start = handle.read(8)
    if start.startswith(_ARCHIVE_START):
        from . import TimbreCycleGAN, TimbreVAE
        from ._persistence import load_model

        # Read without unpickling, as the class the file's manifest names.
        return load_model((TimbreVAE, TimbreCycleGAN), path)
    if not trust_pickle:
        raise ValueError(_refusal(path, start))
    print(f"sktimbre: warning: --trust-pickle: unpickling {path}, which runs "
          "whatever code the file holds; use it only for a file you made or "
          "trust.", file=sys.stderr)
    return _unpickle(path)


def _refusal(path, start):
    safe = path.with_name(path.stem + ("-safe.skt" if path.suffix == ".skt"
                                       else ".skt"))
    how = (f"or convert it once to the pickle-free format: python -c \"import "
           f"joblib; joblib.load({str(path)!r}).save({str(safe)!r})\"")
    if start.startswith(_PICKLE_STARTS):
        return (f"{path} is a pickle (joblib) file, and unpickling runs "
                "whatever code the file holds, so sktimbre reads it only when "
                "you re-run with --trust-pickle: do that only for a file you "
                f"made or trust, {how}.")
    return (f"{path} is not a model file written by `sktimbre fit` in the "
            "pickle-free format (a zip archive written by `sktimbre fit -o "
            "model.skt` or model.save(path)); if it is a pickle or joblib file "
            f"you made or trust, re-run with --trust-pickle, {how}.")


def _unpickle(path):
    import joblib

    from ._base import BaseTimbreModel

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
    conversions = _conversions(args)
    _refuse_replacing_inputs(conversions, Path(args.model), args.overwrite)
    model = _load_model(args.model, trust_pickle=args.trust_pickle)
    for source, outputs in conversions:
        _convert_file(model, source, outputs)
    return 0


def _conversions(args):
    """``[(input file, [(alpha, output file), ...]), ...]`` for ``convert``:
    one input, or each audio file of a folder into the folder ``-o``."""
    from .io import _audio_files

    source, output = Path(args.input), Path(args.output)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist; check the path.")
    if source.is_dir():
        if output.exists() and not output.is_dir():
            raise ValueError(
                f"{source} is a folder, so -o names the folder to write its "
                f"converted files in, but {output} is a file; pass a folder "
                "(it is created if missing).")
        pairs = [(path, output / path.name) for path in _audio_files(source)]
    elif output.is_dir():
        pairs = [(source, output / source.name)]
    else:
        pairs = [(source, output)]
    if not args.sweep:
        return [(path, [(args.alpha, out)]) for path, out in pairs]
    alphas = np.linspace(0, 1, args.sweep)
    tags = [f"_alpha{label}" for label in _alpha_labels(alphas)]
    return [(path, [(float(alpha), out.with_name(out.stem + tag + out.suffix))
                    for alpha, tag in zip(alphas, tags)])
            for path, out in pairs]


def _alpha_labels(alphas):
    """Names for alphas in [0, 1]: the fewest decimals, at least two, that
    tell them all apart, all of one width, so names sort in alpha order."""
    for decimals in range(2, 18):
        labels = [f"{alpha:.{decimals}f}" for alpha in alphas]
        if len(set(labels)) == len(labels):
            break
    return labels


def _file_id(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _refuse_replacing_inputs(conversions, model, overwrite):
    """Stop before writing over an input (unless --overwrite) or the model."""
    inputs = {_file_id(source): source for source, _ in conversions}
    model_id = _file_id(model)
    for _, outputs in conversions:
        for _, output in outputs:
            target = _file_id(output)
            if target is None:
                continue
            if target == model_id:
                raise ValueError(
                    f"the output {output} is the model file {model}; pass -o "
                    "another name.")
            if target in inputs and not overwrite:
                raise ValueError(
                    f"the output {output} is the input file {inputs[target]}, "
                    "which converting would replace; pass -o another name, or "
                    "--overwrite to replace the input with its conversion.")


def _convert_file(model, source, outputs):
    from .io import load_audio, save_audio

    sr = model.spectrogram_.sr
    y, file_sr = load_audio(source)
    resampled, _ = load_audio(source, sr=sr)
    for alpha, path in outputs:
        audio = model.transform(resampled, alpha=alpha)
        if file_sr != sr:
            import soxr

            audio = soxr.resample(audio, sr, file_sr)
        audio = np.pad(audio, (0, max(0, len(y) - len(audio))))[: len(y)]
        save_audio(path, audio, file_sr)
        print(_printable(f"{source} alpha={alpha:g} -> {path}"))


def _info(args):
    import sklearn
    import torch

    from . import __version__

    model = _load_model(args.model, trust_pickle=args.trust_pickle)
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
    # ensure_ascii: strings read from the file (parameters, fit_info_) come
    # out with control and non-ASCII characters escaped.
    print(json.dumps(info, indent=2, default=str, ensure_ascii=True))
    return 0


def _at_least_two(text):
    count = int(text)
    if count < 2:
        raise argparse.ArgumentTypeError(
            f"{count} is too few: a sweep writes N >= 2 files from alpha 0 to 1; "
            "use --alpha for one file")
    return count


def _trust_pickle_option(parser):
    parser.add_argument(
        "--trust-pickle", action="store_true",
        help="also read a pickle/joblib model file; unpickling runs whatever "
             "code the file holds, so only for files you made or trust")


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
                     help="model file: any name but .joblib/.pkl/.pickle (e.g. "
                          "model.skt) writes the pickle-free format of "
                          "TimbreVAE.save; .joblib/.pkl/.pickle pickles it with "
                          "joblib, which info and convert then read only with "
                          "--trust-pickle")
    fit.set_defaults(run=_fit)
    conv = sub.add_parser("convert", help="convert a file, or a folder's audio "
                          "files, with a fitted model")
    conv.add_argument("model", help="a model file in the pickle-free format")
    conv.add_argument("input", help="an audio file, or a folder of them")
    group = conv.add_mutually_exclusive_group()
    group.add_argument("--alpha", type=float, default=0.5)
    group.add_argument("--sweep", type=_at_least_two,
                       help="write N files, alpha 0..1, named OUT_alpha0.00.wav, "
                            "...")
    conv.add_argument("-o", "--output", required=True,
                      help="the output file; for a folder INPUT, the folder to "
                           "write into (created if missing)")
    conv.add_argument("--overwrite", action="store_true",
                      help="allow an output to replace the input file")
    _trust_pickle_option(conv)
    conv.set_defaults(run=_convert)
    info = sub.add_parser("info", help="describe a fitted model")
    info.add_argument("model", help="a model file in the pickle-free format")
    _trust_pickle_option(info)
    info.set_defaults(run=_info)
    add_export_command(sub, _load_model, _trust_pickle_option)
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
        # Messages may quote a file's content: escape it for the terminal.
        print(f"sktimbre: error: {_printable(message)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
