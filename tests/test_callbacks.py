"""Callbacks given to a model's ``callbacks`` parameter: events, learning-rate
schedules, stopping, cloning and pickling."""

import copy
import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone

from sktimbre.callbacks import Callback, EpochLogger, LRScheduler

from .timbre_models import (  # noqa: F401 - one_torch_thread is a fixture
    MODELS,
    TIMBRE_MODELS,
    one_torch_thread,
    same_weights,
    short_pair,
    tiny,
    weights,
)


def quick(cls, **params):
    """``tiny(cls)`` without alpha's spacing, which training does not need."""
    return tiny(cls, calibrate_alpha=False, **params)


@pytest.fixture(scope="module")
def pair():
    return short_pair()


class Events(Callback):
    """Records the events it hears, in order."""

    def __init__(self):
        self.events = []

    def on_train_begin(self, model, loop):
        self.events.append("train_begin")

    def on_epoch_begin(self, model, loop):
        self.events.append(f"epoch_begin {loop.epoch}")

    def on_batch_end(self, model, loop, losses):
        assert np.isfinite(losses["loss"])
        self.events.append("batch")

    def on_steps_end(self, model, loop):
        # The epoch is not in history_ until it is judged.
        assert loop.epoch not in model.history_["epoch"]
        self.events.append("steps_end")

    def on_epoch_end(self, model, loop):
        # The epoch is in history_ when its end is heard.
        self.events.append(f"epoch_end {model.history_['epoch'][-1]}")

    def on_train_end(self, model, loop):
        self.events.append(f"train_end {loop.n_steps} {loop.completed}")


@MODELS
def test_a_learning_rate_schedule_changes_the_rate_without_subclassing(cls, pair):
    a, b = pair
    lr = 1e-3
    halving = LRScheduler("StepLR", step_size=1, gamma=0.5)
    model = quick(cls, max_epochs=3, lr=lr, callbacks=[halving]).fit(a, b)
    assert np.allclose(model.history_["lr"], [lr, lr / 2, lr / 4])
    # Every optimiser (both of a CycleGAN's) follows the schedule.
    assert np.allclose([g["lr"] for o in model._optimizers() for g in o.param_groups],
                       lr / 8)
    constant = quick(cls, max_epochs=3, lr=lr).fit(a, b)
    assert model.history_["train_loss"][0] == constant.history_["train_loss"][0]
    assert model.history_["train_loss"][2] != constant.history_["train_loss"][2]


@MODELS
def test_a_warm_fit_goes_on_with_the_schedule(cls, pair):
    a, b = pair
    settings = {"lr": 1e-3}
    whole = quick(cls, max_epochs=4, callbacks=[
        LRScheduler("ExponentialLR", gamma=0.7)], **settings).fit(a, b)
    resumed = quick(cls, max_epochs=2, warm_start=True, callbacks=[
        LRScheduler("ExponentialLR", gamma=0.7)], **settings).fit(a, b)
    resumed.fit(a, b)
    assert resumed.history_["lr"] == whole.history_["lr"]
    assert resumed.history_["train_loss"] == whole.history_["train_loss"]
    assert same_weights(weights(resumed), weights(whole))


@MODELS
def test_callbacks_hear_every_event_in_order(cls, pair):
    a, b = pair
    events = Events()
    model = quick(cls, max_epochs=2, steps_per_epoch=3, callbacks=[events]).fit(a, b)
    assert model.n_epochs_ == 2
    assert events.events == (
        ["train_begin", "epoch_begin 1"] + ["batch"] * 3
        + ["steps_end", "epoch_end 1", "epoch_begin 2"]
        + ["batch"] * 3 + ["steps_end", "epoch_end 2", "train_end 6 True"])


def test_a_callback_stops_training(pair):
    a, b = pair

    class StopAtTwo(Callback):
        def on_epoch_end(self, model, loop):
            loop.stop_training = loop.epoch == 2

    model = quick(TIMBRE_MODELS[0], max_epochs=5, callbacks=[StopAtTwo()]).fit(a, b)
    assert model.n_epochs_ == 2 and model.history_["epoch"] == [1, 2]


def test_an_interrupt_no_callback_handles_propagates(pair, monkeypatch):
    a, b = pair
    events = Events()
    model = quick(TIMBRE_MODELS[0], max_epochs=2, callbacks=[events])
    monkeypatch.setattr(model, "_default_callbacks", lambda: [])

    def interrupted(batch):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "_training_losses", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(a, b)
    assert events.events[-1] == "train_end 0 False"


def test_epoch_logger_writes_a_line_per_epoch(pair):
    a, b = pair
    lines = []
    quick(TIMBRE_MODELS[0], max_epochs=2,
         callbacks=[EpochLogger(sink=lines.append)]).fit(a, b)
    assert [line.split()[:2] for line in lines] == [["epoch", "1"], ["epoch", "2"]]
    assert all("train_loss=" in line and "valid_loss=nan" in line for line in lines)


@pytest.mark.parametrize("bad, match", [
    (["StepLR"], r"callbacks\[0\] is a str, not a sktimbre.callbacks.Callback"),
    ((LRScheduler(),), "'callbacks' parameter"),
])
def test_callbacks_that_are_not_callbacks_are_refused(pair, bad, match):
    a, b = pair
    with pytest.raises(TypeError, match=match):
        quick(TIMBRE_MODELS[0], callbacks=bad).fit(a, b)


def test_an_unknown_policy_is_refused_with_the_fix(pair):
    a, b = pair
    with pytest.raises(ValueError, match="'NoSuchLR' is not a scheduler.*StepLR"):
        quick(TIMBRE_MODELS[0], callbacks=[LRScheduler("NoSuchLR")]).fit(a, b)


def test_clone_builds_new_callbacks_with_the_same_parameters():
    schedule = LRScheduler("StepLR", step_size=2, gamma=0.3)
    model = quick(TIMBRE_MODELS[0], callbacks=[schedule])
    twin = clone(model).callbacks[0]
    assert twin is not schedule and isinstance(twin, LRScheduler)
    assert twin.get_params() == schedule.get_params() == {
        "policy": "StepLR", "step_every": "epoch", "monitor": "train_loss",
        "step_size": 2, "gamma": 0.3}
    assert repr(twin).startswith("LRScheduler(policy='StepLR'")


@MODELS
def test_a_model_fitted_with_a_schedule_copies_and_pickles_cleanly(cls, pair):
    a, b = pair
    model = quick(cls, max_epochs=2, callbacks=[LRScheduler(
        "StepLR", step_size=1, gamma=0.5)]).fit(a, b)
    # No scheduler is left holding the optimisers: a copy steps its own.
    assert all("step" not in vars(o) for o in model._optimizers())
    assert "schedulers_" not in vars(model.callbacks[0])
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(twin.transform(a[0], alpha=1.0),
                                      model.transform(a[0], alpha=1.0))


@MODELS
def test_a_saved_model_goes_on_with_its_schedule_after_load(cls, pair, tmp_path):
    a, b = pair

    def halving():
        return [LRScheduler("StepLR", step_size=1, gamma=0.5)]

    whole = quick(cls, max_epochs=4, callbacks=halving()).fit(a, b)
    first = quick(cls, max_epochs=2, warm_start=True,
                  callbacks=halving()).fit(a, b)
    # The file holds parameters and fitted state, not code to call.
    with pytest.raises(TypeError, match="callbacks/0 is a LRScheduler.*joblib"):
        first.save(tmp_path / "first.skt")
    path = first.set_params(callbacks=None).save(tmp_path / "first.skt")
    resumed = cls.load(path).set_params(callbacks=halving())
    resumed.fit(a, b)
    assert resumed.history_["lr"] == whole.history_["lr"]
    assert resumed.history_["train_loss"] == whole.history_["train_loss"]
    assert same_weights(weights(resumed), weights(whole))


@MODELS
def test_joblib_keeps_picklable_callbacks_and_goes_on_with_them(cls, pair, tmp_path):
    a, b = pair

    def callbacks():
        return [LRScheduler("StepLR", step_size=1, gamma=0.5), Events()]

    whole = quick(cls, max_epochs=4, callbacks=callbacks()).fit(a, b)
    first = quick(cls, max_epochs=2, warm_start=True,
                  callbacks=callbacks()).fit(a, b)
    joblib.dump(first, tmp_path / "first.joblib")
    resumed = joblib.load(tmp_path / "first.joblib")
    assert [type(c) for c in resumed.callbacks] == [LRScheduler, Events]
    # The user's callback comes back with what it recorded.
    assert resumed.callbacks[1].events == first.callbacks[1].events
    resumed.fit(a, b)
    assert resumed.history_["lr"] == whole.history_["lr"]
    assert resumed.history_["train_loss"] == whole.history_["train_loss"]
    assert same_weights(weights(resumed), weights(whole))


@pytest.mark.parametrize("callback, article", [
    (EpochLogger(), "an EpochLogger"), (Events(), "an Events"),
    (LRScheduler("StepLR", step_size=1), "a LRScheduler")])
def test_save_refuses_callbacks_and_says_what_to_do(pair, tmp_path, callback,
                                                    article):
    a, b = pair
    model = quick(TIMBRE_MODELS[0], callbacks=[callback]).fit(a, b)
    with pytest.raises(TypeError, match=rf"callbacks/0 is {article}: callbacks "
                       r"are code.*callbacks=None.*joblib\.dump"):
        model.save(tmp_path / "m.skt")
    assert not (tmp_path / "m.skt").exists()
    # Without them the same model saves.
    assert model.set_params(callbacks=None).save(tmp_path / "m.skt").exists()
