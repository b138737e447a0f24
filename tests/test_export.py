"""TorchScript export: a host with no sktimbre gets the streamer's output."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from sktimbre import TimbreCycleGAN, TimbreVAE, export_torchscript
from sktimbre.cli import main

from .timbre_models import one_torch_thread, short_pair, tiny  # noqa: F401

# A host process: torch only. It converts input.npy block by block, sets
# alpha to 0.2 halfway through, and reports whether sktimbre was imported.
_HOST = """
import json, sys
import numpy as np
import torch
torch.set_num_threads(1)
module = torch.jit.load(sys.argv[1])
files = {"sktimbre.json": ""}
torch.jit.load(sys.argv[1], _extra_files=files)
contract = json.loads(files["sktimbre.json"])
size = contract["block_size"]
piece = np.load(sys.argv[2])
blocks = []
for start in range(0, len(piece), size):
    if start == (len(piece) // size // 2) * size:
        module.alpha = 0.2
    block = torch.from_numpy(piece[start:start + size])
    blocks.append(module(block).numpy())
np.save(sys.argv[3], np.concatenate(blocks))
print(json.dumps({"contract": contract,
                  "sktimbre_imported": any(m.startswith("sktimbre")
                                           for m in sys.modules)}))
"""


@pytest.fixture(scope="module", params=[False, True], ids=["", "pitch_table"])
def vae(request):
    return tiny(TimbreVAE, synthesis="additive", keep_detail=0.0,
                pitch_table=request.param).fit(*short_pair())


def _piece(size):
    a, b = short_pair()
    piece = np.concatenate([a[0], b[1]])
    return piece[:len(piece) // size * size]


def test_exported_module_matches_the_streamer_in_a_fresh_process(vae, tmp_path):
    path = tmp_path / "vae.ts"
    contract = export_torchscript(vae, path, block_size=512, alpha=0.8, source="A")
    piece = _piece(512)
    np.save(tmp_path / "input.npy", piece)
    host = subprocess.run(
        [sys.executable, "-c", _HOST, str(path), str(tmp_path / "input.npy"),
         str(tmp_path / "output.npy")],
        capture_output=True, text=True, cwd=tmp_path)
    assert host.returncode == 0, host.stderr
    report = json.loads(host.stdout)
    assert report["sktimbre_imported"] is False
    assert report["contract"] == contract
    streamer = vae.stream(block_size=512, alpha=0.8, source="A")
    expected = []
    for start in range(0, len(piece), 512):
        if start == (len(piece) // 512 // 2) * 512:
            streamer.alpha = 0.2
        expected.append(streamer.process(piece[start:start + 512]))
    expected = np.concatenate(expected)
    hosted = np.load(tmp_path / "output.npy")
    assert np.abs(expected).max() > 0.01
    np.testing.assert_allclose(hosted, expected, atol=1e-5, rtol=0)
    assert contract["delay_samples"] == streamer.lookahead_samples
    assert contract["latency_ms"] == pytest.approx(streamer.latency_ms)
    assert contract["sample_rate"] == 22050


def test_exported_module_checks_its_input(vae, tmp_path):
    path = tmp_path / "vae.ts"
    export_torchscript(vae, path, block_size=256, source=0)
    module = torch.jit.load(str(path))
    with pytest.raises(torch.jit.Error, match="256"):
        module(torch.zeros(255))
    with pytest.raises(torch.jit.Error, match="NaN"):
        module(torch.full((256,), float("nan")))
    with pytest.raises(torch.jit.Error, match="alpha"):
        module.set_alpha(1.5)
    module.alpha = 0.5
    assert module(torch.zeros(256)).shape == (256,)
    # reset() returns to silence in, silence out from a clean state.
    module.reset()
    assert torch.equal(module(torch.zeros(256)), torch.zeros(256))


def test_export_leaves_the_model_on_its_device(vae, tmp_path):
    export_torchscript(vae, tmp_path / "vae.ts", block_size=512, source="B")
    assert vae.device_.type == "cpu"
    assert (tmp_path / "vae.ts").stat().st_size > 0


def test_cyclegan_cannot_be_exported(tmp_path):
    # Refused for what the model is, fitted or not.
    with pytest.raises(NotImplementedError, match="cannot stream"):
        export_torchscript(TimbreCycleGAN(), tmp_path / "gan.ts", source="A")
    assert not (tmp_path / "gan.ts").exists()


def test_cli_export_writes_the_module_and_prints_its_contract(vae, tmp_path, capsys):
    model_path = tmp_path / "vae.skt"
    vae.save(model_path)
    out = tmp_path / "vae.ts"
    code = main(["export", str(model_path), "-o", str(out), "--source", "A",
                 "--block-size", "1024", "--alpha", "0.25"])
    assert code == 0
    contract = json.loads(capsys.readouterr().out)
    assert contract["block_size"] == 1024 and contract["alpha"] == 0.25
    assert torch.jit.load(str(out))(torch.zeros(1024)).shape == (1024,)
    code = main(["export", str(model_path), "-o", str(out), "--source", "oboe"])
    assert code == 1
    assert "--source 'oboe'" in capsys.readouterr().err
