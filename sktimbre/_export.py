"""A fitted TimbreVAE as a TorchScript file for audio hosts, and the
``sktimbre export`` command that writes one."""

import copy
import json
import warnings

import torch

from ._atomic import atomic_path

__all__ = ["export_torchscript", "add_export_command"]

# Name of the JSON contract stored inside the TorchScript archive.
CONTRACT_FILE = "sktimbre.json"


def export_torchscript(model, path, *, block_size=512, alpha=None, source):
    """Write a TorchScript module that converts one block of audio per call.

    The module runs in any TorchScript host (``torch.jit.load`` in Python,
    ``torch::jit::load`` in C++: Max/MSP, Pure Data or plug-in wrappers)
    without sktimbre, on the CPU. Its contract (docs/realtime.md):

    - ``forward(block)``: a 1-D float32 tensor of exactly ``block_size``
      mono samples at ``sample_rate`` Hz in, as many samples out; the
      output is the conversion of the input delayed by ``delay_samples``
      (the host hears ``delay_samples + block_size`` of latency);
    - ``alpha``: an attribute (or ``set_alpha(alpha)``), read at the next
      block;
    - ``reset()``: back to the state of a new stream.

    The same figures are stored in the archive as ``sktimbre.json``.

    Parameters
    ----------
    model : TimbreVAE
        Fitted on a linear-frequency spectrogram.
    path : str or Path
        File to write (``.ts`` by convention); written whole or not at all.
    block_size : int, default=512
        Samples per call the host will pass.
    alpha : float in [0, 1], optional
        Initial timbre; the model's ``alpha`` when omitted.
    source : label or float in [0, 1]
        The instrument the host's input is played on (see
        :meth:`TimbreVAE.stream`).

    Returns
    -------
    dict
        The contract written: sample rate, block size, delay and latency.

    Examples
    --------
    >>> import tempfile, numpy as np, torch
    >>> from sktimbre import TimbreVAE, export_torchscript
    >>> t = np.arange(22050) / 22050
    >>> A = [np.sin(2 * np.pi * f * t).astype(np.float32) for f in (220, 330)]
    >>> B = [0.3 * np.sign(A[0]), 0.3 * np.sign(A[1])]
    >>> vae = TimbreVAE(hidden=16, max_epochs=1, random_state=0).fit(A, B)
    >>> path = tempfile.mkdtemp() + "/vae.ts"
    >>> export_torchscript(vae, path, block_size=256, source="A")["delay_samples"]
    13312
    >>> host = torch.jit.load(path)
    >>> host(torch.zeros(256)).shape
    torch.Size([256])
    """
    # The host runs on the CPU whatever the model was fitted on; the copy
    # leaves the caller's model on its device.
    cpu_model = copy.deepcopy(model)
    cpu_model.device_ = torch.device("cpu")
    module = cpu_model.stream(block_size=block_size, alpha=alpha,
                              source=source).module
    # A host runs forward outside torch.no_grad: the copy's weights are
    # frozen, so that no call records a graph.
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    # TorchScript, deprecated in recent torch, is still what audio hosts
    # (libtorch, nn~) load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(module)
    contract = {
        "sample_rate": module.sample_rate,
        "block_size": module.block_size,
        "delay_samples": module.delay_samples,
        "latency_samples": module.delay_samples + module.block_size,
        "latency_ms": 1000.0 * (module.delay_samples + module.block_size)
        / module.sample_rate,
        "alpha": module.alpha,
        "channels": 1,
        "dtype": "float32",
    }
    with atomic_path(path) as temporary:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(scripted, str(temporary),
                           _extra_files={CONTRACT_FILE: json.dumps(contract)})
    return contract


def _source_argument(text, classes):
    """A source named on the command line: a class label, else a number."""
    labels = [str(label) for label in classes]
    if text in labels:
        return classes[labels.index(text)].item()
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"--source {text!r} is neither one of the model's classes {labels} "
            "nor a number in [0, 1]; name the instrument the input is played on."
        ) from None


def add_export_command(sub, load_model, trust_pickle_option):
    """Register ``sktimbre export MODEL -o FILE`` on the CLI's subparsers."""
    export = sub.add_parser(
        "export", help="write a TorchScript file that converts audio block by "
                       "block, for audio hosts (docs/realtime.md)")
    export.add_argument("model", help="a TimbreVAE file in the pickle-free format")
    export.add_argument("-o", "--output", required=True, help="the file to write")
    export.add_argument("--source", required=True,
                        help="instrument of the input: a class label, 0 or 1")
    export.add_argument("--alpha", type=float, default=None,
                        help="initial timbre (default: the model's alpha)")
    export.add_argument("--block-size", type=int, default=512,
                        help="samples per call of the host (default 512)")
    trust_pickle_option(export)

    def run(args):
        model = load_model(args.model, trust_pickle=args.trust_pickle)
        contract = export_torchscript(
            model, args.output, block_size=args.block_size, alpha=args.alpha,
            source=_source_argument(args.source, model.classes_))
        print(json.dumps(contract, indent=2))
        return 0

    export.set_defaults(run=run)
