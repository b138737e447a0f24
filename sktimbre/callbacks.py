"""Callbacks: code that runs at fixed points of a timbre model's training.

A callback is passed to a model's ``callbacks`` parameter and is called by
the training loop at each event, in the manner of skorch and Keras:
``on_train_begin``, ``on_epoch_begin``, ``on_batch_begin``,
``on_batch_end``, ``on_epoch_end``, ``on_train_end`` and
``on_interrupt``. Each event receives the model being fitted (with its
``history_``) and the :class:`~sktimbre._training.TrainingLoop` running it.

``fit`` calls the instances it is given, as skorch and Keras do, so a
callback may keep what it sees. :func:`sklearn.base.clone` of a model builds
new callbacks from their parameters (``get_params``), as it does for any
estimator's parameters. The built-in callbacks hold no tensor once training
ends, so a model holding them pickles as one without.
"""

import inspect
import warnings

import torch

__all__ = ["Callback", "EpochLogger", "LRScheduler"]


class Callback:
    """Base class of training callbacks; every event does nothing.

    Subclass it and override the events you need. The constructor should
    store its arguments under their own names (as scikit-learn estimators
    do), so that ``fit`` can clone the callback from its parameters.

    Each event is called as ``event(model, loop)`` (``on_batch_end`` also
    with ``losses``). ``model`` is the estimator being fitted; its
    ``history_`` holds one entry per finished epoch. ``loop`` is the
    running :class:`~sktimbre._training.TrainingLoop`: ``loop.epoch`` is
    the number of the epoch under way as ``history_["epoch"]`` will record
    it, ``loop.epoch_in_fit`` counts this fit's epochs from 0,
    ``loop.steps_per_epoch`` and ``loop.n_steps`` (steps taken in this fit)
    count training steps, ``loop.warm_start`` says whether this fit
    continues an earlier one, and setting ``loop.stop_training = True``
    ends training after the current epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreVAE
    >>> from sktimbre.callbacks import Callback
    >>> class StopAfterTwo(Callback):
    ...     def on_epoch_end(self, model, loop):
    ...         if loop.epoch_in_fit == 1:
    ...             loop.stop_training = True
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * 220 * t).astype(np.float32)]
    >>> b = [np.sign(np.sin(2 * np.pi * 330 * t)).astype(np.float32) * 0.2]
    >>> vae = TimbreVAE(hidden=16, max_epochs=5, calibrate_alpha=False,
    ...                 callbacks=[StopAfterTwo()], random_state=0).fit(a, b)
    >>> vae.n_epochs_
    2
    """

    def on_train_begin(self, model, loop):
        """Called once before the first epoch of a ``fit``."""

    def on_epoch_begin(self, model, loop):
        """Called before each epoch's first training step."""

    def on_batch_begin(self, model, loop):
        """Called before each training step."""

    def on_batch_end(self, model, loop, losses):
        """Called after each training step with its ``losses`` (a dict of
        floats; ``"loss"`` is the one that was minimised)."""

    def on_steps_end(self, model, loop):
        """Called after each epoch's last training step, before the epoch is
        judged (its held-out loss) and recorded."""

    def on_epoch_end(self, model, loop):
        """Called after each epoch, once its losses are in ``history_``."""

    def on_train_end(self, model, loop):
        """Called once when training ends, normally or by an exception;
        ``loop.completed`` is False in the second case."""

    def on_interrupt(self, model, loop):
        """Called on Ctrl-C (``KeyboardInterrupt``) during training.

        Returns
        -------
        handled : bool
            True ends training as a stop does, keeping the model usable;
            when no callback returns True the interrupt propagates.
        """
        return False

    def get_params(self, deep=True):
        """The constructor's arguments, by name, for cloning.

        Parameters
        ----------
        deep : bool, default=True
            Unused; there for :func:`sklearn.base.clone`.

        Returns
        -------
        params : dict
        """
        signature = inspect.signature(type(self).__init__)
        names = [p.name for p in signature.parameters.values()
                 if p.name != "self" and p.kind not in (p.VAR_POSITIONAL,
                                                        p.VAR_KEYWORD)]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params):
        """Set constructor arguments by name; returns ``self``."""
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class LRScheduler(Callback):
    """Change the learning rate during training with a
    :mod:`torch.optim.lr_scheduler` policy.

    One scheduler is built per optimiser of the model (both of a
    TimbreCycleGAN's) when training begins, and stepped after every epoch
    or every training step. The learning rate each epoch trained with is
    recorded in ``history_["lr"]`` (that of the model's first optimiser).
    A ``warm_start`` fit replays the schedule over the epochs already in
    ``history_``, so it goes on where the last fit left it, as one
    uninterrupted fit would.

    Parameters
    ----------
    policy : str or type, default="StepLR"
        A scheduler class of :mod:`torch.optim.lr_scheduler`, or its name.
    step_every : {"epoch", "batch"}, default="epoch"
        When to call the scheduler's ``step``.
    monitor : str, default="train_loss"
        The ``history_`` entry given to ``ReduceLROnPlateau``'s ``step``;
        unused by other policies.
    **kwargs
        Passed to the policy, for example ``step_size=1, gamma=0.5``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreCycleGAN
    >>> from sktimbre.callbacks import LRScheduler
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * 220 * t).astype(np.float32)]
    >>> b = [np.sign(np.sin(2 * np.pi * 330 * t)).astype(np.float32) * 0.2]
    >>> halving = LRScheduler("StepLR", step_size=1, gamma=0.5)
    >>> gan = TimbreCycleGAN(width=8, discriminator_width=8, lr=1e-3,
    ...                      max_epochs=3, steps_per_epoch=2, calibrate_alpha=False,
    ...                      callbacks=[halving], random_state=0).fit(a, b)
    >>> gan.history_["lr"]
    [0.001, 0.0005, 0.00025]
    """

    def __init__(self, policy="StepLR", *, step_every="epoch",
                 monitor="train_loss", **kwargs):
        self.policy = policy
        self.step_every = step_every
        self.monitor = monitor
        self.kwargs = kwargs

    def get_params(self, deep=True):
        """The constructor's arguments, the policy's keywords among them."""
        return {**super().get_params(deep), **self.kwargs}

    def set_params(self, **params):
        """Set arguments by name; unknown names become policy keywords."""
        for name, value in params.items():
            if name in ("policy", "step_every", "monitor"):
                setattr(self, name, value)
            else:
                self.kwargs[name] = value
        return self

    def on_train_begin(self, model, loop):
        policy = self._policy_class()
        if self.step_every not in ("epoch", "batch"):
            raise ValueError(
                f"step_every={self.step_every!r} is neither 'epoch' nor 'batch'; "
                "pass one of them to LRScheduler.")
        self.schedulers_ = []
        for optimizer in model._optimizers():
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] = self._first_lr(model, group)
            self.schedulers_.append(policy(optimizer, **self.kwargs))
        self._replay(model, loop)

    def on_batch_end(self, model, loop, losses):
        if self.step_every == "batch":
            self._step(losses["loss"])

    def on_epoch_end(self, model, loop):
        model.history_.setdefault("lr", []).append(self._current_lr(model))
        if self.step_every == "epoch":
            self._step(model.history_[self.monitor][-1]
                       if self.monitor in model.history_ else None)

    def on_train_end(self, model, loop):
        for scheduler in self.__dict__.pop("schedulers_", []):
            _release(scheduler.optimizer)

    def _policy_class(self):
        policy = self.policy
        if isinstance(policy, str):
            policy = getattr(torch.optim.lr_scheduler, policy, None)
        if not (isinstance(policy, type) and issubclass(
                policy, (torch.optim.lr_scheduler.LRScheduler,
                         torch.optim.lr_scheduler.ReduceLROnPlateau))):
            raise ValueError(
                f"policy={self.policy!r} is not a scheduler of "
                "torch.optim.lr_scheduler; pass one, such as 'StepLR' or "
                "torch.optim.lr_scheduler.LinearLR.")
        return policy

    def _first_lr(self, model, group):
        """The learning rate the schedule starts from: the one its first
        fit started from, so that a warm fit's replay retraces it."""
        return group.get("initial_lr", group["lr"])

    def _replay(self, model, loop):
        """Step through the epochs of earlier fits, as they were stepped."""
        past = model.history_.get(self.monitor, [])[:loop.first_epoch]
        steps = len(past) * (loop.steps_per_epoch if self.step_every == "batch"
                             else 1)
        # Stepping before any optimiser step is what a replay does; torch
        # warns about it as a likely mistake.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for index in range(steps):
                self._step(past[index] if self.step_every == "epoch" else None)

    def _step(self, metric):
        for scheduler in self.schedulers_:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(metric)
            else:
                scheduler.step()

    @staticmethod
    def _current_lr(model):
        return float(model._optimizers()[0].param_groups[0]["lr"])


def _release(optimizer):
    """Undo what a torch scheduler attached to ``optimizer``: a wrapper of
    its ``step`` that holds a reference to it, which a deep copy of the
    model would share with the original, stepping the wrong optimiser."""
    for name in ("step", "_opt_called"):
        optimizer.__dict__.pop(name, None)


class EpochLogger(Callback):
    """Write one line per epoch with its losses.

    Parameters
    ----------
    sink : callable, default=print
        Called with each line, for example ``logging.getLogger(...).info``.
    keys : tuple of str, default=("train_loss", "valid_loss")
        The ``history_`` entries written.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreVAE
    >>> from sktimbre.callbacks import EpochLogger
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * 220 * t).astype(np.float32)]
    >>> b = [np.sign(np.sin(2 * np.pi * 330 * t)).astype(np.float32) * 0.2]
    >>> lines = []
    >>> vae = TimbreVAE(hidden=16, max_epochs=2, calibrate_alpha=False,
    ...                 callbacks=[EpochLogger(sink=lines.append)],
    ...                 random_state=0).fit(a, b)
    >>> [line.split()[:2] for line in lines]
    [['epoch', '1'], ['epoch', '2']]
    """

    def __init__(self, sink=print, keys=("train_loss", "valid_loss")):
        self.sink = sink
        self.keys = keys

    def on_epoch_end(self, model, loop):
        history = model.history_
        values = " ".join(f"{key}={history[key][-1]:.4f}" for key in self.keys
                          if key in history)
        self.sink(f"epoch {history['epoch'][-1]} {values}")
