"""``sktimbre fit``, ``convert`` and ``info``: what each command does once
its arguments are parsed (the parser is in :mod:`sktimbre.cli`)."""

import json
import os
from pathlib import Path

import numpy as np

from ._cli_model_files import is_pickle_name, load_model_file, write_model
from ._cli_text import printable


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


def run_fit(args):
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
    write_model(model, args.output)
    print(f"Fitted {Model.__name__} in {model.n_epochs_} epochs; saved {args.output}")
    if is_pickle_name(args.output):
        print(f"{args.output} is a pickle: `sktimbre info` and `sktimbre convert` "
              "read it only with --trust-pickle; any other name than "
              ".joblib/.pkl/.pickle (e.g. model.skt) writes the pickle-free "
              "format, which they read as it is.")
    return 0


def _load_many(sources, load_audio, sr):
    clips = []
    for source in sources:
        loaded, sr = load_audio(source, sr=sr)
        clips += loaded if isinstance(loaded, list) else [loaded]
    return clips, sr



def run_convert(args):
    conversions = _conversions(args)
    _refuse_replacing_inputs(conversions, Path(args.model), args.overwrite)
    model = load_model_file(args.model, trust_pickle=args.trust_pickle)
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
    tags = [f"_alpha{label}" for label in alpha_labels(alphas)]
    return [(path, [(float(alpha), out.with_name(out.stem + tag + out.suffix))
                    for alpha, tag in zip(alphas, tags)])
            for path, out in pairs]


def alpha_labels(alphas):
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
        print(printable(f"{source} alpha={alpha:g} -> {path}"))


def run_info(args):
    import sklearn
    import torch

    from . import __version__

    model = load_model_file(args.model, trust_pickle=args.trust_pickle)
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
