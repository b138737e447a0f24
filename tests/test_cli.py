import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from sktimbre.io import load_audio, save_audio

from .conftest import harmonic_tone


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
    model = root / "model.joblib"
    run("fit", "--a", str(root / "a"), "--b", str(root / "b"),
        "--param", "max_epochs=1", "--param", "hidden=16",
        "--param", "early_stopping=false", "-o", str(model))
    return root, model


def test_convert_keeps_length_and_rate(fitted_model, tmp_path):
    root, model = fitted_model
    piece = harmonic_tone(330.0, [1, 0.5], 0.7, sr=16000)
    save_audio(tmp_path / "in.wav", piece, 16000)
    run("convert", str(model), str(tmp_path / "in.wav"), "--alpha", "1",
        "-o", str(tmp_path / "out.wav"))
    out, sr = load_audio(tmp_path / "out.wav")
    assert sr == 16000 and len(out) == len(piece)
    run("convert", str(model), str(tmp_path / "in.wav"), "--sweep", "3",
        "-o", str(tmp_path / "sweep.wav"))
    assert len(list(tmp_path.glob("sweep_alpha*.wav"))) == 3


def test_info(fitted_model):
    _, model = fitted_model
    info = json.loads(run("info", str(model)).stdout)
    assert info["model"] == "TimbreVAE" and info["epochs"] == 1
    assert info["fitted_on"]["n_clips"] == [3, 3]


def test_fit_and_convert_with_the_cyclegan(fitted_model, tmp_path):
    import zipfile

    root, _ = fitted_model
    # Not .joblib: the pickle-free format, which convert and info read too.
    model = tmp_path / "gan.sktimbre"
    run("fit", "--a", str(root / "a"), "--b", str(root / "b"), "--model", "cyclegan",
        "--param", "max_epochs=1", "--param", "width=8",
        # tests/test_cyclegan.py covers the spacing of alpha; it is slow here.
        "--param", "calibrate_alpha=false",
        "--param", "early_stopping=false", "-o", str(model))
    assert zipfile.is_zipfile(model)
    with zipfile.ZipFile(model) as archive:
        assert "weights.safetensors" in archive.namelist()
    assert json.loads(run("info", str(model)).stdout)["model"] == "TimbreCycleGAN"
    run("convert", str(model), str(root / "a" / "0.wav"), "--alpha", "0.5",
        "-o", str(tmp_path / "half.wav"))
    out, sr = load_audio(tmp_path / "half.wav")
    assert sr == 22050 and len(out) == 22050 and np.isfinite(out).all()


def test_errors_are_one_line_with_exit_codes(fitted_model, tmp_path):
    _, model = fitted_model
    missing = run("convert", str(model), str(tmp_path / "nope.wav"), "-o",
                  str(tmp_path / "x.wav"), check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("sktimbre: error:")
    assert "nope.wav" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_alpha = run("convert", str(model), str(tmp_path / "nope.wav"), "--alpha",
                    "x", "-o", "y.wav", check=False)
    assert bad_alpha.returncode == 2
    usage = run("fit", check=False)
    assert usage.returncode == 2
    assert run("--help").stdout.startswith("usage: sktimbre")


def test_demo_writes_a_page_that_a_browser_plays(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--out", str(out), "--max-epochs", "1")
    assert "P(flute)" in result.stdout
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
