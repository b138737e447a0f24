"""The estimators on a CUDA GPU: fit, convert, persist, and load on a machine
without one. Skipped where PyTorch sees no GPU; the unit tests elsewhere pin
the CPU, whose fits are bitwise reproducible."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.pipeline import Pipeline

from sktimbre import (
    SpectrogramTransformer,
    TimbreCycleGAN,
    TimbreVAE,
    convert,
)
from sktimbre.exceptions import DeviceWarning
from sktimbre.metrics import log_spectral_distance

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU")

MODELS = {
    "vae": lambda **kw: TimbreVAE(max_epochs=3, hidden=24, early_stopping=False,
                                  steps_per_epoch=None, calibrate_alpha=True,
                                  random_state=0, **kw),
    # calibrate_alpha renders and judges lines after training: on the GPU too.
    "cyclegan": lambda **kw: TimbreCycleGAN(
        width=24, n_residual_blocks=2, discriminator_width=16, max_epochs=3,
        calibrate_alpha=True, steps_per_epoch=None, random_state=0, **kw),
}


@pytest.fixture(scope="module", params=list(MODELS))
def on_gpu(request, two_instruments):
    a, b = two_instruments
    return MODELS[request.param](device="cuda").fit(a, b)


def test_spectrogram_round_trip_matches_the_cpu(two_instruments):
    a, _ = two_instruments
    specs, audio = {}, {}
    for device in ("cpu", "cuda"):
        transformer = SpectrogramTransformer(device=device).fit(a)
        specs[device] = transformer.transform(a[0])
        # With the carried phase (a Spectrogram) and from random phase.
        audio[device] = (transformer.inverse_transform(specs[device]),
                         transformer.inverse_transform(np.asarray(specs[device])))
    assert np.allclose(specs["cpu"], specs["cuda"], atol=1e-4)
    for cpu, gpu in zip(audio["cpu"], audio["cuda"]):
        assert gpu.shape == cpu.shape and np.isfinite(gpu).all()
        assert abs(log_spectral_distance(a[0], gpu, sr=22050)
                   - log_spectral_distance(a[0], cpu, sr=22050)) < 0.5


def test_fit_uses_the_gpu_and_converts(on_gpu, two_instruments):
    a, b = two_instruments
    assert on_gpu.device_.type == on_gpu.spectrogram_.device_.type == "cuda"
    assert all(p.device.type == "cuda" for name in on_gpu._module_names
               for p in getattr(on_gpu, name).parameters())
    for alpha in (0.0, 0.5, 1.0):
        out = on_gpu.transform(a[0], alpha=alpha)
        assert out.shape == a[0].shape and np.isfinite(out).all()
    S = on_gpu.spectrogram_.transform(b[0])
    back = on_gpu.inverse_transform(on_gpu.transform(S, alpha=0.0))
    assert np.isfinite(np.asarray(back)).all()
    # valid_loss is NaN without held-out clips (early_stopping=False).
    assert all(np.isfinite(v).all() for k, v in on_gpu.history_.items()
               if k != "valid_loss")


def test_pipeline_on_the_gpu(two_instruments):
    a, b = two_instruments
    pipe = Pipeline([("spec", SpectrogramTransformer(device="cuda")),
                     ("model", MODELS["vae"](device="cuda"))]).fit(a, b)
    out = convert(pipe, a[:2], alpha=0.5)
    assert [len(x) for x in out] == [len(x) for x in a[:2]]


@pytest.mark.parametrize("how", ["joblib", "save"])
def test_gpu_model_reloads_on_the_gpu(on_gpu, two_instruments, tmp_path, how):
    a, _ = two_instruments
    expected = on_gpu.transform(a[0], alpha=1.0)
    if how == "joblib":
        joblib.dump(on_gpu, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    else:
        on_gpu.save(tmp_path / "model.sktimbre")
        loaded = type(on_gpu).load(tmp_path / "model.sktimbre")
    assert loaded.device_.type == "cuda"
    assert np.allclose(loaded.transform(a[0], alpha=1.0), expected, atol=1e-4)


@pytest.mark.parametrize("how", ["joblib", "save"])
def test_gpu_model_loads_where_there_is_no_gpu(on_gpu, two_instruments, tmp_path,
                                               monkeypatch, how):
    a, _ = two_instruments
    expected = on_gpu.transform(a[0], alpha=1.0)
    if how == "joblib":
        joblib.dump(on_gpu, tmp_path / "model.joblib")
    else:
        on_gpu.save(tmp_path / "model.sktimbre")
    # As on a laptop: PyTorch sees no GPU while the file is read and used.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="fitted on CUDA"):
        if how == "joblib":
            loaded = joblib.load(tmp_path / "model.joblib")
        else:
            loaded = type(on_gpu).load(tmp_path / "model.sktimbre")
    assert loaded.device_.type == loaded.spectrogram_.device_.type == "cpu"
    assert all(p.device.type == "cpu" for name in loaded._module_names
               for p in getattr(loaded, name).parameters())
    out = loaded.transform(a[0], alpha=1.0)
    assert np.allclose(out, expected, atol=1e-3)


def test_warm_start_continues_on_the_gpu(two_instruments):
    a, b = two_instruments
    model = MODELS["cyclegan"](device="cuda", warm_start=True).fit(a, b)
    model.set_params(max_epochs=1).fit(a, b)
    assert model.n_epochs_ == 4
    assert model.device_.type == "cuda"
