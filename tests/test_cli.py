import contextlib
import errno
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import joblib
import numpy as np
import pytest
import soundfile as sf

from sktimbre import TimbreVAE
from sktimbre._cli_commands import alpha_labels
from sktimbre._cli_model_files import write_model
from sktimbre.cli import main
from sktimbre.io import load_audio, save_audio

from .conftest import harmonic_tone
from .timbre_models import one_torch_thread  # noqa: F401 - autouse fixture


def run(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "sktimbre", *args],
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def fitted_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    for name, amps in (("a", [1, 0.8, 0.6, 0.4]), ("b", [1, 0.1])):
        for i in range(3):
            save_audio(root / name / f"{i}.wav",
                       harmonic_tone(rng.uniform(250, 500), amps, 1.0), 22050)
    pickled = root / "model.joblib"
    result = run("fit", "--a", str(root / "a"), "--b", str(root / "b"),
                 "--param", "max_epochs=1", "--param", "hidden=16",
                 "--param", "steps_per_epoch=2", "--param", "calibrate_alpha=false",
                 "--param", "early_stopping=false", "-o", str(pickled))
    # fit still writes a pickle when asked to, and says how to read it back.
    assert "--trust-pickle" in result.stdout
    model = joblib.load(pickled).save(root / "model.skt")
    return root, model


@pytest.fixture(scope="module")
def pickled_model(fitted_model):
    return fitted_model[0] / "model.joblib"


def call(capsys, *args):
    """Run the command in this process: exit code, stdout, stderr."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write_piece(path, seconds=0.1, sr=22050, f0=330.0):
    return save_audio(path, harmonic_tone(f0, [1, 0.5], seconds, sr=sr), sr)


def test_convert_keeps_length_and_rate(fitted_model, tmp_path, capsys):
    root, model = fitted_model
    piece = harmonic_tone(330.0, [1, 0.5], 0.7, sr=16000)
    save_audio(tmp_path / "in.wav", piece, 16000)
    run("convert", str(model), str(tmp_path / "in.wav"), "--alpha", "1",
        "-o", str(tmp_path / "out.wav"))
    out, sr = load_audio(tmp_path / "out.wav")
    assert sr == 16000 and len(out) == len(piece)
    code, _, err = call(capsys, "convert", model, tmp_path / "in.wav", "--sweep", "3",
                        "-o", tmp_path / "sweep.wav")
    assert code == 0, err
    assert len(list(tmp_path.glob("sweep_alpha*.wav"))) == 3


def test_info(fitted_model, capsys):
    _, model = fitted_model
    code, out, err = call(capsys, "info", model)
    assert code == 0 and not err
    info = json.loads(out)
    assert info["model"] == "TimbreVAE" and info["epochs"] == 1
    assert info["fitted_on"]["n_clips"] == [3, 3]


def test_fit_and_convert_with_the_cyclegan(fitted_model, tmp_path, capsys):
    import zipfile

    root, _ = fitted_model
    # Not .joblib: the pickle-free format, which convert and info read too.
    # In this process: the fixture above already runs the command line itself.
    model = tmp_path / "gan.sktimbre"
    code, _, err = call(
        capsys, "fit", "--a", root / "a", "--b", root / "b", "--model", "cyclegan",
        "--param", "max_epochs=1", "--param", "width=8",
        "--param", "steps_per_epoch=2",
        # tests/test_cyclegan.py covers the spacing of alpha; it is slow here.
        "--param", "calibrate_alpha=false",
        "--param", "early_stopping=false", "-o", model)
    assert code == 0, err
    assert zipfile.is_zipfile(model)
    with zipfile.ZipFile(model) as archive:
        assert "weights.safetensors" in archive.namelist()
    code, out, _ = call(capsys, "info", model)
    assert code == 0 and json.loads(out)["model"] == "TimbreCycleGAN"
    code, _, err = call(capsys, "convert", model, root / "a" / "0.wav", "--alpha",
                        "0.5", "-o", tmp_path / "half.wav")
    assert code == 0, err
    out, sr = load_audio(tmp_path / "half.wav")
    assert sr == 22050 and len(out) == 22050 and np.isfinite(out).all()


def test_errors_are_one_line_with_exit_codes(fitted_model, tmp_path, capsys):
    _, model = fitted_model
    missing = run("convert", str(model), str(tmp_path / "nope.wav"), "-o",
                  str(tmp_path / "x.wav"), check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("sktimbre: error:")
    assert "nope.wav" in missing.stderr
    assert "Traceback" not in missing.stderr

    # Usage errors exit with 2 (argparse's convention), help with 0; checked in
    # this process, as the entry point is the same ``main``.
    with pytest.raises(SystemExit) as exited:
        main(["convert", str(model), str(tmp_path / "nope.wav"), "--alpha", "x",
              "-o", "y.wav"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["fit"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: sktimbre")


def test_demo_writes_a_page_that_a_browser_plays(tmp_path, capsys):
    out = tmp_path / "demo"
    code, stdout, err = call(capsys, "demo", "--out", out, "--max-epochs", "1")
    assert code == 0, err
    assert "P(flute)" in stdout
    report = json.loads((out / "report.json").read_text())
    assert set(report["pieces"]) == {"violin", "flute"}
    page = (out / "index.html").read_text()
    assert page.count("<audio") == 8 and "http" not in page
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium here: install Debian's chromium to check the page")
    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", """<script>
window.addEventListener('load', async () => {
  const audios = [...document.querySelectorAll('audio')];
  await Promise.all(audios.map(a => a.readyState >= 1 ? null :
    new Promise(r => { a.onloadedmetadata = r; a.onerror = r; })));
  const imgs = [...document.images].map(i => i.complete && i.naturalWidth > 0);
  document.title = JSON.stringify({durations: audios.map(a => a.duration),
                                   images: imgs});
});
</script></body>"""))
    dump = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--allow-file-access-from-files",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    title = dump.stdout.split("<title>")[1].split("</title>")[0]
    state = json.loads(title.replace("&quot;", '"'))
    assert len(state["durations"]) == 8
    assert all(abs(d - 8.0) < 0.05 for d in state["durations"])
    assert state["images"] and all(state["images"])


class _Payload:
    """Unpickling this creates ``marker``: a stand-in for a malicious file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_pickles_are_refused_unless_trusted_and_run_nothing(fitted_model, tmp_path,
                                                            capsys):
    root, model = fitted_model
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Payload(marker))
    # The payload does what it says when unpickled.
    pickle.loads(pickle.dumps(_Payload(tmp_path / "proof"))).close()
    assert (tmp_path / "proof").exists()
    (tmp_path / "evil.skt").write_bytes(payload)
    (tmp_path / "evil.sktimbre").write_bytes(payload)
    joblib.dump(_Payload(marker), tmp_path / "evil.joblib")
    # A pickle in front of a real model, which zipfile would find behind it.
    (tmp_path / "prefixed.skt").write_bytes(payload + model.read_bytes())
    source = write_piece(tmp_path / "in.wav")
    for name in ("evil.skt", "evil.sktimbre", "evil.joblib", "prefixed.skt"):
        for command in (["info", tmp_path / name],
                        ["convert", tmp_path / name, source, "-o",
                         tmp_path / "out.wav"]):
            code, out, err = call(capsys, *command)
            assert code == 1 and not marker.exists(), (name, err)
            assert "--trust-pickle" in err and "pickle" in err, err
            assert not (tmp_path / "out.wav").exists()
    code, _, err = call(capsys, "info", "--trust-pickle", tmp_path / "evil.joblib")
    # Trusted, it runs: the flag is what stood in the way.
    assert marker.exists() and code == 1
    assert "runs whatever code the file holds" in err


def test_trust_pickle_reads_a_joblib_model_with_a_warning(pickled_model, tmp_path,
                                                          capsys):
    code, out, err = call(capsys, "info", pickled_model, "--trust-pickle")
    assert code == 0 and json.loads(out)["model"] == "TimbreVAE"
    assert err.startswith("sktimbre: warning: --trust-pickle") and "trust" in err
    source = write_piece(tmp_path / "in.wav")
    code, _, err = call(capsys, "convert", "--trust-pickle", pickled_model, source,
                        "-o", tmp_path / "out.wav")
    assert code == 0 and "warning" in err
    assert len(load_audio(tmp_path / "out.wav")[0]) == len(load_audio(source)[0])


def _rewrite(source, target, **changes):
    """Copy a model file, replacing some members' JSON."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = old.read(name)
            if name in changes:
                data = json.dumps(changes[name](json.loads(data)))
            new.writestr(name, data)
    return target


def test_strings_from_a_file_reach_the_terminal_escaped(fitted_model, tmp_path,
                                                        capsys):
    _, model = fitted_model
    clear = "\x1b[2J\u202e"

    def noted(state):
        state["fit_info_"]["note"] = clear
        return state

    def named(manifest):
        return {**manifest, "class": clear, "sktimbre_version": clear}

    code, out, err = call(capsys, "info", _rewrite(model, tmp_path / "noted.skt",
                                                   **{"state.json": noted}))
    assert code == 0, err
    assert json.loads(out)["fitted_on"]["note"] == clear
    assert "\x1b" not in out and "\u202e" not in out and "\\u001b[2J" in out
    code, out, err = call(capsys, "info", _rewrite(model, tmp_path / "named.skt",
                                                   **{"manifest.json": named}))
    assert code == 1 and err.startswith("sktimbre: error:")
    assert "\x1b" not in out + err and "\u202e" not in out + err
    # Parameters are shown by their repr, which a pickle's objects choose.
    joblib.dump(TimbreVAE.load(model).set_params(device=clear),
                tmp_path / "param.joblib")
    code, out, err = call(capsys, "info", "--trust-pickle", tmp_path / "param.joblib")
    assert code == 0 and "x1b[2J" in json.loads(out)["params"]["device"]
    assert "\x1b" not in out + err and "\u202e" not in out + err


def test_failed_writes_keep_the_old_file(fitted_model, tmp_path, capsys,
                                         monkeypatch):
    _, model = fitted_model
    source = write_piece(tmp_path / "in.wav", sr=192000)
    if "MP3" in sf.available_formats():
        # MPEG audio has no 192 kHz rate: the write fails after converting.
        old = tmp_path / "old.mp3"
        old.write_bytes(b"an older mp3")
        code, _, err = call(capsys, "convert", model, source, "-o", old)
        assert code == 1 and "could not write" in err
        assert old.read_bytes() == b"an older mp3"
        old.unlink()
    old = write_piece(tmp_path / "old.wav")
    before = old.read_bytes()

    def disk_full(target, *args, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sf, "write", disk_full)
    code, _, err = call(capsys, "convert", model, source, "-o", old)
    assert code == 1 and "No space left" in err
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "old.wav"]


def _dump_half(value, target, **kwargs):
    """joblib.dump on a disk that fills up halfway."""
    with (open(target, "wb") if isinstance(target, (str, os.PathLike))
          else contextlib.nullcontext(target)) as handle:
        handle.write(b"half a pickle")
    raise OSError(errno.ENOSPC, "No space left on device")


def _add_no_member(archive, name, data, **kwargs):
    """ZipFile.writestr on a full disk, after the archive was begun."""
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("name, failing, stand_in", [
    ("m.joblib", "joblib.dump", _dump_half),
    ("m.skt", "zipfile.ZipFile.writestr", _add_no_member)])
def test_failed_model_save_keeps_the_old_model(fitted_model, tmp_path, monkeypatch,
                                               name, failing, stand_in):
    model = TimbreVAE.load(fitted_model[1])
    path = tmp_path / name
    write_model(model, path)
    before = path.read_bytes()
    monkeypatch.setattr(failing, stand_in)
    with pytest.raises(OSError, match="No space left"):
        write_model(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_convert_refuses_to_replace_its_input(fitted_model, tmp_path, capsys):
    _, model = fitted_model
    source = write_piece(tmp_path / "in.wav")
    before = source.read_bytes()
    (tmp_path / "link.wav").symlink_to(source)
    swept = write_piece(tmp_path / "x_alpha1.00.wav")
    for output in (source, tmp_path / "link.wav", tmp_path):
        code, _, err = call(capsys, "convert", model, source, "-o", output)
        assert code == 1 and "--overwrite" in err and "is the input" in err, err
    code, _, err = call(capsys, "convert", model, swept, "-o", tmp_path / "x.wav",
                        "--sweep", "3")
    assert code == 1 and "x_alpha1.00.wav is the input" in err
    code, _, err = call(capsys, "convert", model, source, "-o", model)
    assert code == 1 and "is the model file" in err
    assert source.read_bytes() == before
    assert not (tmp_path / "x_alpha0.00.wav").exists()
    code, _, err = call(capsys, "convert", model, source, "-o", source,
                        "--overwrite", "--alpha", "1")
    assert code == 0, err
    assert source.read_bytes() != before
    y, sr = load_audio(source)
    assert sr == 22050 and len(y) == 2205


def test_sweep_names_are_unique_and_sort_in_alpha_order(fitted_model, tmp_path,
                                                        capsys):
    assert alpha_labels(np.linspace(0, 1, 5)) == [
        "0.00", "0.25", "0.50", "0.75", "1.00"]
    alphas = np.linspace(0, 1, 102)
    labels = alpha_labels(alphas)
    assert len(set(labels)) == 102 and sorted(labels) == labels
    assert labels[50:52] == ["0.495", "0.505"]
    np.testing.assert_allclose([float(v) for v in labels], alphas, atol=5e-4)
    _, model = fitted_model
    source = write_piece(tmp_path / "in.wav", seconds=0.02)
    code, out, err = call(capsys, "convert", model, source, "--sweep", "102",
                          "-o", tmp_path / "out" / "s.wav")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"s_alpha{label}.wav" for label in labels]


def test_convert_a_folder_file_by_file(fitted_model, tmp_path, capsys):
    _, model = fitted_model
    same = tmp_path / "same"
    for i, f0 in enumerate((220.0, 330.0, 440.0)):
        write_piece(same / f"{i}.wav", f0=f0)
    mixed = tmp_path / "mixed"
    shapes = {"a.wav": (0.1, 22050), "b.flac": (0.25, 16000), "c.wav": (0.05, 44100)}
    for name, (seconds, sr) in shapes.items():
        write_piece(mixed / name, seconds=seconds, sr=sr)
    code, _, err = call(capsys, "convert", model, same, "-o", tmp_path / "out")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == ["0.wav", "1.wav", "2.wav"]
    for name in ("0.wav", "1.wav", "2.wav"):
        y, sr = load_audio(tmp_path / "out" / name, mono=False)
        assert y.shape == (1, 2205) and sr == 22050
    code, _, err = call(capsys, "convert", model, mixed, "--sweep", "2",
                        "-o", tmp_path / "swept")
    assert code == 0, err
    for name, (seconds, sr) in shapes.items():
        stem, ext = os.path.splitext(name)
        for label in ("0.00", "1.00"):
            y, rate = load_audio(tmp_path / "swept" / f"{stem}_alpha{label}{ext}")
            assert rate == sr and len(y) == int(seconds * sr)
    assert len(os.listdir(tmp_path / "swept")) == 6
    code, _, err = call(capsys, "convert", model, same, "-o", same / "0.wav")
    assert code == 1 and "is a folder" in err
    code, _, err = call(capsys, "convert", model, same, "-o", same)
    assert code == 1 and "--overwrite" in err
