"""Saving and loading: the pickle-free format, joblib, GPU-saved files on a CPU,
and the files and parameters that loading refuses (tests/test_hostile_files.py
loads many more crafted files in a child process)."""

import json
import pickle
import re
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from sktimbre import SpectrogramTransformer
from sktimbre._persistence import FORMAT_VERSION
from sktimbre.exceptions import DeviceWarning

from .test_hostile_files import (
    _members,
    _Payload,
    _raw_entries,
    _raw_zip,
    _with_json,
    _with_weights,
    _zip,
)
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
    # valid_loss is NaN without held-out clips: compared as equal.
    np.testing.assert_equal(loaded.history_, fitted.history_)
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


# ------------------------------------------------- what loading refuses
def _damaged(path, part):
    """The pattern of the documented error for ``path``, naming ``part``."""
    return f"{re.escape(str(path))} is a damaged sktimbre model file: .*{part}"


def test_a_pickle_in_front_of_a_model_file_is_refused(fitted, saved, tmp_path):
    # Zip readers look for the archive at the end of a file, so this file
    # both unpickles (running the payload) and opens as a zip archive.
    marker = tmp_path / "marker"
    path = tmp_path / "prepended.skt"
    path.write_bytes(pickle.dumps(_Payload(marker)) + saved.read_bytes())
    with pytest.raises(ValueError, match="pickle.*no bytes before its first member"):
        type(fitted).load(path)
    assert not marker.exists()


@pytest.mark.parametrize("layout", ["bytes after", "header before", "bytes between",
                                    "member twice", "fifth member"])
def test_bytes_outside_the_members_and_other_members_are_refused(fitted, saved,
                                                                 tmp_path, layout):
    members = _members(saved)
    path = tmp_path / "layout.skt"
    if layout == "bytes after":
        path.write_bytes(saved.read_bytes() + b"\0" * 100)
    elif layout == "header before":
        # A stray local header, which the directory's offsets account for.
        _raw_zip(path, _raw_entries(saved), prefix=b"PK\x03\x04" + b"\0" * 60)
    elif layout == "bytes between":
        _raw_zip(path, _raw_entries(saved), between=b"\0" * 64)
    elif layout == "member twice":
        _zip(path, [*members.items(), ("state.json", members["state.json"])])
    else:
        _zip(path, {**members, "notes.txt": b"hello"})
    with pytest.raises(ValueError, match=f"{re.escape(str(path))} is (not an "
                       "sktimbre model file|a damaged)"):
        type(fitted).load(path)


@pytest.mark.parametrize("padding", ["spaces", "mixed whitespace"])
def test_a_member_beyond_its_cap_is_refused_before_it_is_read(fitted, saved,
                                                              tmp_path, padding):
    # Valid JSON either way: a loader without caps reads all of it.
    size = 6 * 2**20
    pad = b" " * size if padding == "spaces" else bytes(
        np.random.default_rng(0).choice(list(b" \t\n\r"), size).astype(np.uint8))
    members = _members(saved)
    path = _zip(tmp_path / "padded.skt",
                {**members, "state.json": members["state.json"] + pad})
    with pytest.raises(ValueError,
                       match=_damaged(path, "state.json (declares|would inflate)")):
        type(fitted).load(path)


def test_labels_of_a_huge_string_dtype_are_refused(fitted, saved, tmp_path):
    path = _with_json(saved, tmp_path / "labels.skt", "state.json",
                      lambda s: s["classes_"].update(dtype="<U100000"))
    with pytest.raises(ValueError, match=_damaged(path, "classes_.*<U100000")):
        type(fitted).load(path)


def _first_weight(state, model):
    # The last network that has weights (a model's optional networks, such
    # as the TimbreVAE's discriminators without lambda_gan, have none).
    modules = [state[name]["__module__"] for name in type(model)._module_names]
    module = [module for module in modules if module][-1]
    return next(iter(module.values()))["__tensor__"]


def _first_moment(state, model):
    optimizer = state[type(model)._optimizer_names[0]]["__optimizer__"]
    return optimizer["state"]["__dict__"][0][1]["exp_avg"]["__tensor__"]


@pytest.mark.parametrize("change", ["float64 weight", "moment of another shape",
                                    "tensor nothing refers to"])
def test_tensors_must_have_the_dtype_and_shape_the_parameters_imply(
        fitted, saved, tmp_path, change):
    def edit(tensors, state):
        if change == "float64 weight":
            key = _first_weight(state, fitted)
            tensors[key] = tensors[key].double()
        elif change == "moment of another shape":
            tensors[_first_moment(state, fitted)] = torch.zeros(3, 3)
        else:
            tensors["extra"] = torch.zeros(10)

    path = _with_weights(saved, tmp_path / "tensors.skt", edit)
    with pytest.raises(ValueError, match=_damaged(
            path, "(the model's parameters make it|nothing refers to)")):
        type(fitted).load(path)


def _corrupt_deflate(saved, target):
    entries = _raw_entries(saved)
    entries[2][1] = b"\xff" * len(entries[2][1])  # a reserved deflate block type
    return _raw_zip(target, entries)


_DAMAGE = {
    "nested JSON": ("state.json nests", lambda saved, target: _zip(target, {
        **_members(saved), "state.json": "[" * 100_000 + "]" * 100_000})),
    "corrupt deflate": ("state.json cannot be inflated", _corrupt_deflate),
    "no device_": ("lacks .*device_", lambda saved, target: _with_json(
        saved, target, "state.json", lambda s: s.pop("device_"))),
    "no spectrogram_": ("lacks .*spectrogram_", lambda saved, target: _with_json(
        saved, target, "state.json", lambda s: s.pop("spectrogram_"))),
    "n_freq_ of 10**12": ("spectrogram_: n_freq_ is 1000000000000", lambda saved,
                          target: _with_json(saved, target, "state.json", lambda s: s[
                              "spectrogram_"]["fitted"].update(n_freq_=10**12))),
    "history_ a string": ("state.json: history_", lambda saved, target: _with_json(
        saved, target, "state.json", lambda s: s.update(history_="x"))),
}


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_damage_raises_the_documented_error_naming_the_part(fitted, saved,
                                                            tmp_path, damage):
    part, make = _DAMAGE[damage]
    path = make(saved, tmp_path / "damaged.skt")
    with pytest.raises(ValueError, match=_damaged(path, part)) as info:
        type(fitted).load(path)
    assert type(info.value) is ValueError


def test_a_manifest_naming_no_model_class_is_damaged(fitted, saved, tmp_path):
    path = _with_json(saved, tmp_path / "class.skt", "manifest.json",
                      lambda m: m.update({"class": "builtins.eval"}))
    with pytest.raises(ValueError, match=_damaged(path, "'builtins.eval', which is "
                                                  "no sktimbre model")):
        type(fitted).load(path)


def test_a_zip64_model_file_loads(fitted, saved, tmp_path, monkeypatch):
    # Python writes zip64 records for members over 2 GiB; smaller here.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1 << 10)
    path = type(fitted).load(saved).save(tmp_path / "zip64.skt")
    monkeypatch.undo()
    assert b"PK\x06\x06" in path.read_bytes()
    assert same_weights(weights(type(fitted).load(path)), weights(fitted))


def test_save_refuses_labels_load_would_refuse(pair, tmp_path):
    a, b = pair
    model = tiny(TIMBRE_MODELS[0]).fit(a + b, ["v" * 300] * 2 + ["flute"] * 2)
    with pytest.raises(TypeError, match="300 characters.*joblib.dump"):
        model.save(tmp_path / "labels.skt")
    assert not (tmp_path / "labels.skt").exists()


# ---------------------------------------------------------------- parameters
def test_parameters_outside_their_range_are_refused_on_load(fitted, saved,
                                                            tmp_path):
    path = _with_json(saved, tmp_path / "params.skt", "params.json",
                      lambda p: p.update(chunk_frames=0))
    with pytest.raises(ValueError, match=_damaged(
            path, "params.json: The 'chunk_frames' parameter")):
        type(fitted).load(path)


@pytest.mark.parametrize("value", [-1, 0, 2.5, "many"])
def test_set_params_refuses_a_value_outside_the_range_and_keeps_the_old(
        fitted, value):
    before = fitted.chunk_frames
    with pytest.raises(InvalidParameterError, match="chunk_frames"):
        fitted.set_params(chunk_frames=value)
    assert fitted.chunk_frames == before


def test_set_params_checks_the_nested_transformer_and_restores_it():
    model = tiny(TIMBRE_MODELS[0], spectrogram=SpectrogramTransformer(n_fft=512))
    with pytest.raises(InvalidParameterError, match="n_fft"):
        model.set_params(spectrogram__n_fft=-1, chunk_frames=64)
    assert (model.spectrogram.n_fft, model.chunk_frames) == (512, 1024)
    assert model.set_params(spectrogram__n_fft=256).spectrogram.n_fft == 256


def test_set_params_to_the_value_it_has_checks_nothing():
    # scikit-learn's check_do_not_raise_errors_in_init_or_set_params: a
    # constructor's values are checked by fit, and setting them again is no
    # change.
    model = TIMBRE_MODELS[0](chunk_frames="helloworld")
    assert model.set_params(chunk_frames=model.chunk_frames) is model
    with pytest.raises(InvalidParameterError, match="chunk_frames"):
        model.set_params(chunk_frames="another")


def test_unpickling_a_fitted_model_checks_its_parameters(fitted, tmp_path):
    broken = pickle.loads(pickle.dumps(fitted))
    broken.__dict__["chunk_frames"] = 0
    joblib.dump(broken, tmp_path / "broken.joblib")
    with pytest.raises(InvalidParameterError, match="chunk_frames"):
        joblib.load(tmp_path / "broken.joblib")


def test_weights_that_the_safetensors_module_would_read_are_checked_first(
        fitted, saved, tmp_path):
    # The header is parsed and checked before the data: a header that
    # declares more data than the member holds never reaches safetensors.
    members = _members(saved)
    raw = members["weights.safetensors"]
    path = _zip(tmp_path / "short.skt",
                {**members, "weights.safetensors": raw[:-4]})
    with pytest.raises(ValueError, match=_damaged(path, "its tensors take")):
        type(fitted).load(path)


def test_files_and_pickles_from_before_a_parameter_keep_their_behaviour(pair, tmp_path):
    # latent_dropout, note_frames, pitch_table, lambda_gan (with its
    # discriminators) and skirt_bins came later: a model saved without them
    # was made, and converts, as latent_dropout=0, note_frames=0,
    # pitch_table=False, lambda_gan=0 and skirt_bins=0 do, whatever today's
    # defaults.
    from sktimbre import TimbreVAE

    a, b = pair
    model = tiny(TimbreVAE, latent_dropout=0.0, note_frames=0).fit(a, b)
    path = model.save(tmp_path / "now.skt")
    later = {"latent_dropout": 0.0, "note_frames": 0, "pitch_table": False,
             "lambda_gan": 0.0, "skirt_bins": 0}
    networks = TimbreVAE._discriminator_names

    def drop_saved_weights(held):
        """Take the later networks out of the weights ``held`` keeps."""
        for kept in ("_best_state_", "_average_state_", "_resume_state_"):
            for name in networks:
                if isinstance(held.get(kept), dict):
                    held[kept].pop(name, None)

    def drop_tensors(tensors, state):
        for name in networks:
            state.pop(name)
        drop_saved_weights(state)
        for key in [key for key in tensors
                    if any(f"/{name}/" in key for name in networks)]:
            del tensors[key]

    def converts_as_made(older):
        assert {name: getattr(older, name) for name in later} == later
        assert np.array_equal(older.transform(a[0], alpha=1.0),
                              model.transform(a[0], alpha=1.0))
        # A warm start continues it as any model without discriminators.
        older.set_params(warm_start=True).fit(a, b)
        assert older.n_epochs_ == 2

    older = _with_json(path, tmp_path / "older.skt", "params.json",
                       lambda params: [params.pop(name) for name in later])
    converts_as_made(TimbreVAE.load(
        _with_weights(older, tmp_path / "oldest.skt", drop_tensors)))
    state = model.__getstate__()
    for name in (*later, *networks):
        del state[name]
    unpickled = TimbreVAE.__new__(TimbreVAE)
    unpickled.__setstate__(state)
    # The pickle's saved weights are only readable once unpickled.
    drop_saved_weights(unpickled.__dict__)
    converts_as_made(unpickled)


def test_cyclegan_files_from_before_draw_harmonics_translate_as_they_did(pair,
                                                                       tmp_path):
    # A TimbreCycleGAN saved before draw_harmonics existed has generators
    # that read the spectrogram alone: it loads as draw_harmonics=False,
    # with networks of that shape, and translates exactly as before.
    from sktimbre import TimbreCycleGAN

    a, b = pair
    model = tiny(TimbreCycleGAN, draw_harmonics=False).fit(a, b)
    path = model.save(tmp_path / "now.skt")
    older = _with_json(path, tmp_path / "older.skt", "params.json",
                       lambda params: params.pop("draw_harmonics"))
    loaded = TimbreCycleGAN.load(older)
    assert loaded.draw_harmonics is False
    assert np.array_equal(loaded.transform(a[0], alpha=1.0),
                          model.transform(a[0], alpha=1.0))
    state = model.__getstate__()
    del state["draw_harmonics"]
    unpickled = TimbreCycleGAN.__new__(TimbreCycleGAN)
    unpickled.__setstate__(state)
    assert unpickled.draw_harmonics is False
    assert np.array_equal(unpickled.transform(a[0], alpha=1.0),
                          model.transform(a[0], alpha=1.0))
    # Today's default draws them: its generators have the third term.
    drawing = tiny(TimbreCycleGAN).fit(a, b)
    assert drawing.generator_ab_.out.out_channels == 3 * drawing.spectrogram_.n_freq_
    assert model.generator_ab_.out.out_channels == 2 * model.spectrogram_.n_freq_
