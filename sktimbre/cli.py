"""The ``sktimbre`` command: demo, fit, convert, info, export.

Errors print on one line to stderr with exit code 1 (2 for bad usage, as
argparse does); ``--debug`` shows the traceback.
"""

import argparse
import sys

from ._cli_commands import run_convert, run_fit, run_info
from ._cli_demo import run_demo
from ._cli_model_files import load_model_file
from ._cli_text import printable
from ._export import add_export_command

__all__ = ["main"]


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
    demo.add_argument("--max-epochs", type=int, default=None,
                      help="training budget in epochs (default: TimbreVAE's own)")
    demo.set_defaults(run=run_demo)
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
    fit.set_defaults(run=run_fit)
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
    conv.set_defaults(run=run_convert)
    info = sub.add_parser("info", help="describe a fitted model")
    info.add_argument("model", help="a model file in the pickle-free format")
    _trust_pickle_option(info)
    info.set_defaults(run=run_info)
    add_export_command(sub, load_model_file, _trust_pickle_option)
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
        print(f"sktimbre: error: {printable(message)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
