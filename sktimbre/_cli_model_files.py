"""Model files for the ``sktimbre`` command: the pickle-free format always,
a joblib pickle only when asked for by name or by ``--trust-pickle``."""

import sys
from pathlib import Path

from ._atomic import atomic_path

# Model files with these extensions are pickled with joblib; any other name
# gets the pickle-free format of ``save``, which loading cannot run code from.
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# How the pickle-free format starts (a zip archive from its first byte), and
# how pickles and joblib's compressed pickles (zlib, gzip, bz2, xz, lzma, lz4)
# start.
_ARCHIVE_START = b"PK\x03\x04"
_PICKLE_STARTS = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ",
                  b"]\x00\x00", b"\x04\x22\x4d\x18")


def is_pickle_name(path):
    return Path(path).suffix.lower() in _PICKLE_SUFFIXES


def load_model_file(path, *, trust_pickle=False):
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


def write_model(model, output):
    """Save with joblib for a pickle's name, else in the pickle-free format;
    whole or not at all, so a failed save keeps the previous model."""
    if not is_pickle_name(output):
        model.save(output)  # writes through a temporary file itself
        return
    import joblib

    with atomic_path(output) as temporary, open(temporary, "wb") as handle:
        # An open file: joblib would read a format from the name.
        joblib.dump(model, handle)
