"""Saving and loading: the pickle-free format, joblib, GPU-saved files on a CPU."""

import json
import pickle
import re
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from sktimbre import SpectrogramTransformer
from sktimbre._persistence import FORMAT_VERSION
from sktimbre.exceptions import DeviceWarning

from .timbre_models import (  # noqa: F401 - one_torch_thread is a fixture
    TIMBRE_MODELS,
    one_torch_thread,
    same_weights,
    short_pair,
    tiny,
    weights,
)


@pytest.fixture(scope="module")
def pair():
    return short_pair()


@pytest.fixture(scope="module", params=TIMBRE_MODELS, ids=lambda c: c.__name__)
def fitted(request, pair):
    a, b = pair
    return tiny(request.param, max_epochs=2, warm_start=True).fit(a, b)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return fitted.save(tmp_path_factory.mktemp("saved") / "model.skt")


class _Payload:
    """Unpickling this creates ``marker``: a stand-in for a malicious file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _rewrite(source, target, **changes):
    """Copy a model file, replacing some members' bytes."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, changes.get(name, old.read(name)))
    return target


def test_loaded_model_transforms_exactly_like_the_saved_one(fitted, saved, pair):
    a, b = pair
    loaded = type(fitted).load(saved)
    assert loaded.get_params() == fitted.get_params()
    assert same_weights(weights(loaded), weights(fitted))
    for alpha in (0.0, 0.3, 1.0):
        assert np.array_equal(loaded.transform(a[0], alpha=alpha),
                              fitted.transform(a[0], alpha=alpha))
    S = fitted.spectrogram_.transform(b[1])
    assert np.array_equal(loaded.transform(S, alpha=0.5),
                          fitted.transform(S, alpha=0.5))
    assert loaded.history_ == fitted.history_
    assert list(loaded.classes_) == list(fitted.classes_)


def test_file_layout_and_version(saved):
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == [
            "manifest.json", "params.json", "state.json", "weights.safetensors"]
        manifest = json.loads(archive.read("manifest.json"))
        params = json.loads(archive.read("params.json"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert params["max_epochs"] == 2 and params["random_state"] == 0


def test_warm_fit_after_load_goes_on_like_the_original(pair, tmp_path):
    # Optimiser moments and random-number state are saved, not only weights.
    a, b = pair
    cls = TIMBRE_MODELS[0]
    original = tiny(cls, max_epochs=1, warm_start=True).fit(a, b)
    loaded = cls.load(original.save(tmp_path / "m.skt"))
    for model in (original, loaded):
        model.fit(a, b)
    assert loaded.history_["train_loss"] == original.history_["train_loss"]
    assert same_weights(weights(loaded), weights(original))


def test_nested_spectrogram_parameter_and_labels_round_trip(pair, tmp_path):
    a, b = pair
    cls = TIMBRE_MODELS[-1]
    spec = SpectrogramTransformer(n_fft=512, hop_length=128, n_mels=48, n_iter=4)
    model = tiny(cls, spectrogram=spec).fit(a + b, ["violin"] * 2 + ["flute"] * 2)
    loaded = cls.load(model.save(tmp_path / "labels.skt"))
    assert loaded.spectrogram.get_params() == spec.get_params()
    assert list(loaded.classes_) == ["flute", "violin"]
    assert np.array_equal(loaded.spectrogram_.mel_basis_, model.spectrogram_.mel_basis_)
    assert np.array_equal(loaded.transform(a[0]), model.transform(a[0]))


def test_save_refuses_an_unfitted_model(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        tiny(TIMBRE_MODELS[0]).save(tmp_path / "m.skt")
    assert not (tmp_path / "m.skt").exists()


def _crafted_files(tmp_path, marker, saved):
    payload = _Payload(marker)
    (tmp_path / "pickle.skt").write_bytes(pickle.dumps(payload))
    joblib.dump(payload, tmp_path / "joblib.skt")
    torch.save(payload, tmp_path / "torch.skt")
    # The right layout, with a pickle where the weights belong.
    _rewrite(saved, tmp_path / "inside.skt",
             **{"weights.safetensors": pickle.dumps(payload)})
    # The right layout, asking for a class that is not on the allow list.
    state = json.loads(zipfile.ZipFile(saved).read("state.json"))
    state["spectrogram_"]["__estimator__"] = "posix.system"
    _rewrite(saved, tmp_path / "estimator.skt", **{"state.json": json.dumps(state)})
    return ["pickle", "joblib", "torch", "inside", "estimator"]


def test_crafted_files_are_refused_and_run_nothing(fitted, saved, tmp_path):
    marker = tmp_path / "marker"
    # The payload does what it says when unpickled, so the check below means
    # something.
    pickle.loads(pickle.dumps(_Payload(tmp_path / "proof"))).close()
    assert (tmp_path / "proof").exists()
    for name in _crafted_files(tmp_path, marker, saved):
        with pytest.raises(ValueError, match="(not an sktimbre|damaged)") as info:
            type(fitted).load(tmp_path / f"{name}.skt")
        assert "save" in str(info.value), name
        assert not marker.exists(), name


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0])
def test_other_format_version_is_refused_with_what_to_do(saved, fitted, tmp_path,
                                                         version):
    manifest = json.loads(zipfile.ZipFile(saved).read("manifest.json"))
    manifest["format_version"] = version
    path = _rewrite(saved, tmp_path / "v.skt",
                    **{"manifest.json": json.dumps(manifest)})
    fix = "upgrade sktimbre" if version > FORMAT_VERSION else "fit the model again"
    with pytest.raises(ValueError, match=f"format version {version}.*{fix}"):
        type(fitted).load(path)


def test_file_of_another_class_is_refused(saved, fitted):
    others = [cls for cls in TIMBRE_MODELS if cls is not type(fitted)]
    if not others:
        pytest.skip("only one timbre model is exported")
    with pytest.raises(TypeError, match=f"{type(fitted).__name__}.load"):
        others[0].load(saved)


def test_missing_truncated_and_foreign_files(saved, fitted, tmp_path):
    cls = type(fitted)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cls.load(tmp_path / "nowhere.skt")
    truncated = tmp_path / "cut.skt"
    truncated.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ValueError, match="not an sktimbre model file"):
        cls.load(truncated)
    broken = _rewrite(saved, tmp_path / "json.skt", **{"state.json": b"{oops"})
    with pytest.raises(ValueError, match="damaged.*state.json"):
        cls.load(broken)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="another zip file"):
        cls.load(tmp_path / "other.zip")


def test_joblib_round_trip_is_exact(fitted, pair, tmp_path):
    a, _ = pair
    joblib.dump(fitted, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    assert np.array_equal(loaded.transform(a[1], alpha=0.8),
                          fitted.transform(a[1], alpha=0.8))


def _as_if_fitted_on_cuda(model):
    """Mark a CPU model (and its transformer) as living on a GPU."""
    model.device_ = torch.device("cuda")
    model.spectrogram_.device_ = torch.device("cuda")


def _back_on_cpu(model):
    model.device_ = torch.device("cpu")
    model.spectrogram_.device_ = torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="this machine has a GPU; the CPU fallback is not used")
@pytest.mark.parametrize("how", ["joblib", "save"])
def test_cuda_saved_model_loads_on_cpu_with_a_warning(fitted, pair, tmp_path, how):
    a, _ = pair
    expected = fitted.transform(a[0], alpha=1.0)
    _as_if_fitted_on_cuda(fitted)
    try:
        if how == "joblib":
            joblib.dump(fitted, tmp_path / "gpu.joblib")
        else:
            fitted.save(tmp_path / "gpu.skt")
    finally:
        _back_on_cpu(fitted)
    with pytest.warns(DeviceWarning, match="fitted on CUDA.*CPU") as record:
        if how == "joblib":
            loaded = joblib.load(tmp_path / "gpu.joblib")
        else:
            loaded = type(fitted).load(tmp_path / "gpu.skt")
    assert any("spectrogram transformer" in str(w.message) for w in record)
    assert loaded.device_.type == loaded.spectrogram_.device_.type == "cpu"
    assert np.array_equal(loaded.transform(a[0], alpha=1.0), expected)


def test_the_persistence_page_example_runs():
    page = Path(__file__).resolve().parent.parent / "docs" / "persistence.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"),
                        flags=re.DOTALL)
    assert blocks, "docs/persistence.md lost its example"
    exec(compile(blocks[0], str(page), "exec"), {})
