"""The callbacks the timbre models train with whatever the user adds: the
progress bar, best-weight snapshots, early stopping, the time budget,
Ctrl-C, and the CycleGAN's learning-rate decay and weight average."""

import time
import warnings
from functools import partial

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from ._training import EVENT_FRAMES, FIT_FRAMES
from .callbacks import Callback, LRScheduler
from .exceptions import TrainingInterrupted

__all__ = [
    "EarlyStopping",
    "KeepBestWeights",
    "LinearLRDecay",
    "MaxTime",
    "ProgressBar",
    "WarnOnInterrupt",
    "WeightAverage",
]

# How much lower a loss must be than the best so far to count as better.
_IMPROVEMENT = 1e-4


def _ranking_loss(model, loop):
    """The loss that ranks the last epoch: held out, or without held-out
    clips the training loss."""
    key = "valid_loss" if loop.valid_batches else "train_loss"
    return model.history_[key][-1]


class ProgressBar(Callback):
    """A tqdm bar over the epochs with the last losses, when ``verbose``."""

    def __init__(self, verbose):
        self.verbose = verbose

    def on_train_begin(self, model, loop):
        self.bar_ = tqdm(total=model.max_epochs, initial=0,
                         disable=not self.verbose, desc=type(model).__name__,
                         unit="epoch")

    def on_epoch_end(self, model, loop):
        valid = {"valid": f"{model.history_['valid_loss'][-1]:.4f}"} if (
            loop.valid_batches) else {}
        self.bar_.set_postfix(loss=f"{model.history_['train_loss'][-1]:.4f}",
                              **valid)
        self.bar_.update(1)

    def on_train_end(self, model, loop):
        self.__dict__.pop("bar_").close()


class KeepBestWeights(Callback):
    """End training with the weights of the epoch with the lowest ranking
    loss (``keep_best``), or of the last epoch, and keep what a warm fit
    goes on from.

    The model's ``_best_state_``, ``_best_loss_`` and ``best_epoch_`` hold
    the snapshot, and ``_resume_state_`` the weights training stopped at
    when they are not the snapshot's: plain fitted state, so that a saved
    or pickled model resumes exactly.
    """

    def __init__(self, keep_best):
        self.keep_best = keep_best

    def on_train_begin(self, model, loop):
        if loop.warm_start:
            # The weights the user holds are the last good ones should the
            # first loss of this fit be NaN (a CycleGAN holds its averaged
            # generators, not the last step's).
            model._best_state_ = model._weights()
            model._load_weights(getattr(model, "_resume_state_", None))
        else:
            # The initial weights are the last good ones until an epoch
            # ends, should the first loss already be NaN.
            model.best_epoch_ = 0
            model._best_state_ = model._weights()
            model._best_loss_ = np.inf
        model._resume_state_ = None
        # Whether the current weights are the snapshot, so that a copy of
        # the last weights is needed only when they differ.
        self.current_is_best_ = False

    def on_epoch_begin(self, model, loop):
        self.current_is_best_ = False

    def on_epoch_end(self, model, loop):
        loss = _ranking_loss(model, loop)
        if loss < model._best_loss_ - _IMPROVEMENT:
            model._best_loss_ = loss
        elif self.keep_best:
            return
        model.best_epoch_ = len(model.history_["epoch"])
        model._best_state_ = model._weights()
        self.current_is_best_ = True

    def on_train_end(self, model, loop):
        if not self.__dict__.pop("current_is_best_", False):
            # A warm fit goes on from here, not from the best epoch.
            model._resume_state_ = model._weights()
        model._restore_best()


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs in a row whose held-out loss is not
    below the best so far; nothing without held-out clips.

    It compares with the model's ``_best_loss_`` before
    :class:`KeepBestWeights` updates it, so it comes first.
    """

    def __init__(self, patience):
        self.patience = patience

    def on_train_begin(self, model, loop):
        self.no_change_ = 0

    def on_epoch_end(self, model, loop):
        if not loop.valid_batches:
            return
        if _ranking_loss(model, loop) < model._best_loss_ - _IMPROVEMENT:
            self.no_change_ = 0
        else:
            self.no_change_ += 1
        if self.no_change_ >= self.patience:
            loop.stop_training = True


class MaxTime(Callback):
    """Stop after the first epoch that ends ``seconds`` after training began."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_epoch_end(self, model, loop):
        if time.perf_counter() - loop.start_time > self.seconds:
            loop.stop_training = True


class WarnOnInterrupt(Callback):
    """Ctrl-C ends training with the best weights so far and a warning."""

    def on_interrupt(self, model, loop):
        warnings.warn(
            "Training was interrupted; the best weights so far were kept "
            f"(epoch {getattr(model, 'best_epoch_', 0)}). Call fit again with "
            "warm_start=True to continue.",
            TrainingInterrupted,
            stacklevel=1 + EVENT_FRAMES + FIT_FRAMES,
        )
        return True


class LinearLRDecay(LRScheduler):
    """The learning rate falls linearly towards zero over the last
    ``decay_epochs`` epochs of each fit (``LambdaLR``), from the model's
    ``lr``: 1 until then, then ``(decay - 1) / decay``, ..., ``1 / decay``."""

    def __init__(self, decay_epochs, max_epochs):
        super().__init__("LambdaLR", lr_lambda=partial(
            _linear_tail, decay_epochs=decay_epochs, max_epochs=max_epochs))
        self.decay_epochs = decay_epochs
        self.max_epochs = max_epochs

    def get_params(self, deep=True):
        return Callback.get_params(self, deep)

    def on_epoch_end(self, model, loop):
        self._step(None)

    def on_train_end(self, model, loop):
        # The step after the last epoch leaves lr at 0: a warm fit without
        # decay would not train.
        for scheduler in self.schedulers_:
            for group, base in zip(scheduler.optimizer.param_groups,
                                   scheduler.base_lrs):
                group["lr"] = base
        super().on_train_end(model, loop)

    def _first_lr(self, model, group):
        return model.lr

    def _replay(self, model, loop):
        """Each fit decays over its own epochs: nothing to replay."""


def _linear_tail(index, *, decay_epochs, max_epochs):
    return min(1.0, (max_epochs - index) / decay_epochs)


class WeightAverage(Callback):
    """Keep, for the modules ``names``, an exponential moving average of
    their weights over the training steps
    (:class:`torch.optim.swa_utils.AveragedModel`), and end training with it.

    The average (its count of steps included) is kept in the model's
    ``_average_state_`` and a warm fit goes on with it; training goes on
    from the last step's weights (``_resume_state_``), so a resumed fit
    equals an uninterrupted one. Comes after :class:`KeepBestWeights`.

    With ``evaluate``, the average is also what each epoch is judged by:
    after the epoch's last step (``on_steps_end``) it takes the place of the
    model's weights for the held-out loss, early stopping and the
    best-weight snapshot, and the last step's weights come back at the end
    of the epoch, before training goes on. Training then ends with the best
    epoch's average (:class:`KeepBestWeights` restores it), not the last one.
    """

    def __init__(self, names, decay, evaluate=False):
        self.names = names
        self.decay = decay
        self.evaluate = evaluate

    def on_train_begin(self, model, loop):
        self.averages_, self.live_, self.swapped_ = {}, None, False
        if self.decay == 0:
            return
        saved = getattr(model, "_average_state_", None) if loop.warm_start else None
        for name in self.names:
            self.averages_[name] = AveragedModel(
                getattr(model, name), device=model.device_,
                avg_fn=partial(moving_average, self.decay))
            # A network saved averages lack (made before it existed) starts
            # its average afresh.
            if saved and name in saved:
                self.averages_[name].load_state_dict(saved[name])

    def on_batch_end(self, model, loop, losses):
        for name, average in self.averages_.items():
            average.update_parameters(getattr(model, name))

    def on_steps_end(self, model, loop):
        if self.evaluate and self.averages_:
            self.live_ = model._weights()
            self._load_average(model, self.averages_)
            self.swapped_ = True

    def on_epoch_end(self, model, loop):
        if self.swapped_:
            model._load_weights(self.live_)
            self.swapped_ = False

    @torch.no_grad()
    def on_train_end(self, model, loop):
        averages = self.__dict__.pop("averages_", {})
        live = self.__dict__.pop("live_", None)
        swapped = self.__dict__.pop("swapped_", False)
        if not loop.completed:
            return
        model._average_state_ = {name: average.state_dict()
                                 for name, average in averages.items()} or None
        if self.evaluate:
            if live is not None and (swapped or model._resume_state_ is None):
                # The weights kept are an average (the best epoch's):
                # training goes on from the last epoch's last step, also
                # when an interrupt came while the average was judged.
                model._resume_state_ = live
            return
        if averages and model._resume_state_ is None:
            # Training goes on from the last step's weights, not the average.
            model._resume_state_ = model._weights()
        self._load_average(model, averages)

    @staticmethod
    @torch.no_grad()
    def _load_average(model, averages):
        for name, average in averages.items():
            for parameter, value in zip(getattr(model, name).parameters(),
                                        average.module.parameters()):
                parameter.copy_(value)


def moving_average(decay, average, value, n_averaged):
    """One step of an exponential moving average whose decay grows to
    ``decay`` with the number of steps averaged (as TensorFlow's moving
    averages with a step count do): a young average forgets faster, so a
    short fit is not held at its start."""
    # Tensor arithmetic throughout: reading the count back would stall a GPU.
    step_decay = (n_averaged / (n_averaged + 9.0)).clamp(max=decay)
    return average + (1.0 - step_decay).to(average.dtype) * (value - average)
