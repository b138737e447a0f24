"""Faults during training: exploding gradients, NaN losses, Ctrl-C, resuming."""

import joblib
import numpy as np
import pytest
import torch

from sktimbre.exceptions import TrainingInterrupted

from .timbre_models import (  # noqa: F401 - one_torch_thread is a fixture
    MODELS,
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


def _change_loss(model, monkeypatch, change, after_epochs=0):
    """Pass the training loss through ``change`` from the first step after
    ``after_epochs`` finished epochs on."""
    original = model._training_losses

    def losses(batch):
        out = original(batch)
        if len(model.history_["epoch"]) >= after_epochs:
            out["loss"] = change(out["loss"])
        return out

    monkeypatch.setattr(model, "_training_losses", losses)


def _ctrl_c(loss):
    raise KeyboardInterrupt


@MODELS
def test_gradients_are_clipped_to_norm_one(cls, pair, monkeypatch):
    a, b = pair
    before, after = [], []
    clip = torch.nn.utils.clip_grad_norm_

    def recording_clip(params, max_norm, *args, **kwargs):
        params = list(params)
        before.append(float(clip(params, max_norm, *args, **kwargs)))
        grads = [p.grad.norm() for p in params if p.grad is not None]
        after.append(float(torch.linalg.vector_norm(torch.stack(grads))))

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
    model = tiny(cls, max_epochs=2)
    # Gradients far above norm 1.
    _change_loss(model, monkeypatch, lambda loss: 1000.0 * loss)
    model.fit(a, b)
    assert before and max(before) > 1.0, "no step needed clipping; the test is moot"
    assert max(after) <= 1.0 + 1e-4


@MODELS
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_fit_and_keeps_the_last_good_weights(
    cls, pair, monkeypatch, bad
):
    a, b = pair
    model = tiny(cls, warm_start=True).fit(a, b)
    good = weights(model)
    _change_loss(model, monkeypatch, lambda loss: loss * 0 + bad)
    with pytest.raises(FloatingPointError, match=rf"became {bad}.*last good.*lr"):
        model.fit(a, b)
    assert same_weights(weights(model), good)
    out = model.transform(a[0], alpha=1.0)
    assert out.shape == a[0].shape and np.isfinite(out).all()


@MODELS
def test_non_finite_loss_on_the_first_step_keeps_the_initial_weights(
    cls, pair, monkeypatch
):
    a, b = pair
    model = tiny(cls)
    build, initial = model._build_networks, {}

    def recording_build(train):
        build(train)
        initial.update(weights(model))

    monkeypatch.setattr(model, "_build_networks", recording_build)
    _change_loss(model, monkeypatch, lambda loss: loss * float("nan"))
    with pytest.raises(FloatingPointError, match="nan"):
        model.fit(a, b)
    assert initial and same_weights(weights(model), initial)


def test_too_few_clips_to_hold_out_warns_at_the_callers_fit(pair):
    a, b = pair
    with pytest.warns(UserWarning, match="at least two clips") as caught:
        tiny(TIMBRE_MODELS[-1], early_stopping=True).fit(a[:1], b[:1])
    assert {w.filename for w in caught if "two clips" in str(w.message)} == {
        __file__}


@MODELS
def test_ctrl_c_keeps_the_best_weights_with_a_warning_and_can_resume(
    cls, pair, monkeypatch
):
    a, b = pair
    one_epoch = tiny(cls, max_epochs=1).fit(a, b)
    model = tiny(cls, max_epochs=3, warm_start=True)
    _change_loss(model, monkeypatch, _ctrl_c, after_epochs=1)
    with pytest.warns(TrainingInterrupted, match=r"interrupted.*best weights.*"
                      r"epoch 1.*warm_start=True") as caught:
        model.fit(a, b)
    # The warning points at the caller's fit.
    assert {w.filename for w in caught if w.category is TrainingInterrupted} == {
        __file__}
    # Epoch 1 is the best so far, and the same as a fit that stopped there.
    assert model.n_epochs_ == 1 and model.best_epoch_ == 1
    assert same_weights(weights(model), weights(one_epoch))
    assert np.isfinite(model.transform(a[0], alpha=0.5)).all()
    monkeypatch.undo()
    model.fit(a, b)
    assert model.n_epochs_ == 4


@pytest.mark.parametrize(
    "cls, lr",
    [(cls, None) for cls in TIMBRE_MODELS] + [(TIMBRE_MODELS[-1], 0.02)],
    ids=lambda v: getattr(v, "__name__", f"lr={v}"),
)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_resumed_fit_equals_an_uninterrupted_one(cls, lr, early_stopping):
    # lr=0.02 makes the second epoch worse than the first, so the best
    # weights that fit leaves are not the ones training goes on from.
    a, b = short_pair(n_clips=3)
    settings = {"early_stopping": early_stopping, "n_iter_no_change": 10}
    if lr is not None:
        settings["lr"] = lr
    whole = tiny(cls, max_epochs=4, **settings).fit(a, b)
    resumed = tiny(cls, max_epochs=2, warm_start=True, **settings).fit(a, b)
    resumed.set_params(max_epochs=2).fit(a, b)
    assert resumed.history_["train_loss"] == whole.history_["train_loss"]
    # NaN throughout without early stopping: compared as equal there.
    np.testing.assert_equal(resumed.history_["valid_loss"],
                            whole.history_["valid_loss"])
    assert resumed.best_epoch_ == whole.best_epoch_
    assert same_weights(weights(resumed), weights(whole))


@MODELS
@pytest.mark.parametrize("early_stopping", [False, True])
def test_valid_loss_is_nan_without_held_out_clips(cls, early_stopping):
    a, b = short_pair(n_clips=3)
    # lr=0.02 makes the losses rise and fall, so the best epoch is not
    # always the last.
    model = tiny(cls, max_epochs=3, lr=0.02, early_stopping=early_stopping,
                 n_iter_no_change=10).fit(a, b)
    valid = np.array(model.history_["valid_loss"])
    assert len(valid) == model.n_epochs_ == 3
    assert (np.isfinite(valid) if early_stopping else np.isnan(valid)).all()
    if cls._keeps_best_epoch:
        # The held-out loss ranks the epochs; without one, the training loss.
        ranking = valid if early_stopping else model.history_["train_loss"]
        best, expected = np.inf, 0
        for epoch, loss in enumerate(ranking, 1):
            if loss < best - 1e-4:
                best, expected = loss, epoch
        assert model.best_epoch_ == expected
    else:
        assert model.best_epoch_ == model.n_epochs_


def test_resume_survives_a_restart_through_joblib(pair, tmp_path):
    a, b = pair
    cls = TIMBRE_MODELS[0]
    whole = tiny(cls, max_epochs=3).fit(a, b)
    first = tiny(cls, max_epochs=1, warm_start=True).fit(a, b)
    joblib.dump(first, tmp_path / "half.joblib")
    resumed = joblib.load(tmp_path / "half.joblib").set_params(max_epochs=2)
    resumed.fit(a, b)
    assert resumed.history_["train_loss"] == whole.history_["train_loss"]
    assert same_weights(weights(resumed), weights(whole))


def test_warm_fit_keeps_the_representation_it_learnt(pair):
    a, b = pair
    model = tiny(TIMBRE_MODELS[0], warm_start=True).fit(a, b)
    transformer, mean = model.spectrogram_, model.spectrogram_.mean_.copy()
    model.fit([0.1 * x for x in a], b)
    assert model.spectrogram_ is transformer
    assert np.array_equal(model.spectrogram_.mean_, mean)


def test_fit_leaves_the_global_random_state_alone(pair):
    a, b = pair
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny(TIMBRE_MODELS[0], warm_start=True).fit(a, b).fit(a, b)
    assert torch.equal(torch.rand(3), expected)


@MODELS
def test_fit_inside_no_grad_trains(cls, pair):
    # An evaluation script may hold gradients off around a refit; training
    # turns them back on for itself, and the fit equals one outside.
    a, b = pair
    with torch.no_grad():
        inside = tiny(cls, random_state=0).fit(a, b)
        assert not torch.is_grad_enabled()
    outside = tiny(cls, random_state=0).fit(a, b)
    assert same_weights(weights(inside), weights(outside))
