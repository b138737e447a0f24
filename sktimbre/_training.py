"""The training loop of the timbre models: epochs of random crops, the
held-out loss, ``history_``, and the callbacks called at each event."""

import time

import numpy as np
import torch

from ._inputs import ClipData

__all__ = ["EVENT_FRAMES", "FIT_FRAMES", "TrainingLoop", "fixed_crops"]

# Frames between fit's body and fit's caller: fit, limit_threads' wrapper and
# fit_context's. A warning raised in a method fit calls points at the caller
# with stacklevel=2 + FIT_FRAMES (one more per call in between, and one more
# for each torch.no_grad-decorated function on the way, whose wrapper is a
# frame of its own).
FIT_FRAMES = 3
# Frames between a warning raised in a callback's event and fit's body: the
# event and TrainingLoop.run.
EVENT_FRAMES = 2


class TrainingLoop:
    """One ``fit``'s training of a timbre model, calling ``callbacks``.

    The model provides the steps (``_training_step``, ``_validation_loss``)
    and ``_after_training``; everything else that
    happens during training (best weights, early stopping, time budget,
    Ctrl-C, schedules, averages, progress) is a callback.

    Parameters
    ----------
    model : BaseTimbreModel
        The model being fitted, its networks built and ``history_`` set.
    callbacks : list of Callback
        Called in order at each event.
    train, valid : list of ClipData
        Training clips and held-out clips (empty without early stopping).
    warm_start : bool
        Whether this fit continues an earlier one.

    Attributes
    ----------
    epoch : int
        Number of the epoch under way, as ``history_["epoch"]`` records it.
    epoch_in_fit : int
        This fit's epochs before the one under way.
    first_epoch : int
        Epochs in ``history_`` before this fit.
    steps_per_epoch, n_steps : int
        Training steps per epoch, and taken in this fit.
    valid_batches : list of ClipData
        Fixed crops of the held-out clips.
    stop_training : bool
        Set by a callback to end training after the current epoch.
    completed : bool
        Whether training ended without an exception.
    start_time : float
        ``time.perf_counter()`` when training began.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreVAE
    >>> from sktimbre.callbacks import Callback
    >>> class Steps(Callback):
    ...     def on_train_end(self, model, loop):
    ...         self.seen = (loop.first_epoch, loop.epoch, loop.n_steps)
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * 220 * t).astype(np.float32)]
    >>> b = [np.sign(np.sin(2 * np.pi * 330 * t)).astype(np.float32) * 0.2]
    >>> steps = Steps()
    >>> vae = TimbreVAE(hidden=16, max_epochs=2, steps_per_epoch=3,
    ...                 calibrate_alpha=False, callbacks=[steps],
    ...                 random_state=0).fit(a, b)
    >>> steps.seen
    (0, 2, 6)
    """

    def __init__(self, model, callbacks, train, valid, *, warm_start):
        self.model = model
        self.callbacks = list(callbacks)
        self.train = train
        self.warm_start = warm_start
        self.crop = int(min(model.crop_frames, min(c.n_frames for c in train + valid)))
        self.steps_per_epoch = self._count_steps()
        self.valid_batches = fixed_crops(valid, self.crop) if valid else []
        self.first_epoch = len(model.history_["epoch"])
        self.epoch_in_fit = 0
        self.epoch = self.first_epoch + 1
        self.n_steps = 0
        self.stop_training = False
        self.completed = False
        self.start_time = None

    def run(self):
        """Train for up to ``max_epochs`` epochs, then let the model measure
        what it learnt (``_after_training``)."""
        model = self.model
        self.start_time = time.perf_counter()
        self._call("on_train_begin")
        try:
            try:
                for index in range(model.max_epochs):
                    self._run_epoch(index)
                    if self.stop_training:
                        break
            except KeyboardInterrupt:
                # Every callback hears of it; one that handles it ends
                # training as a stop would.
                handled = False
                for callback in self.callbacks:
                    handled = callback.on_interrupt(model, self) or handled
                if not handled:
                    raise
            self.completed = True
        finally:
            self._call("on_train_end")
        model._after_training(self)
        model.n_epochs_ = len(model.history_["epoch"])
        model.fit_time_ = time.perf_counter() - self.start_time

    def _run_epoch(self, index):
        model = self.model
        self.epoch_in_fit, self.epoch = index, self.first_epoch + index + 1
        self._call("on_epoch_begin")
        model._set_train_mode(True)
        totals = {}
        for _ in range(self.steps_per_epoch):
            self._call("on_batch_begin")
            losses = model._training_step(self._random_crops())
            self.n_steps += 1
            self._call("on_batch_end", losses=losses)
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value / self.steps_per_epoch
        self._call("on_steps_end")
        valid_loss = (model._validation_loss(self.valid_batches)
                      if self.valid_batches else np.nan)
        self._record(totals, valid_loss)
        self._call("on_epoch_end")

    def _count_steps(self):
        """Training steps per epoch: ``steps_per_epoch``, or one pass over
        the training frames when it is None."""
        model = self.model
        if model.steps_per_epoch is not None:
            return model.steps_per_epoch
        frames = sum(c.n_frames for c in self.train)
        return max(1, int(np.ceil(frames / self.crop / model.batch_size)))

    def _random_crops(self):
        """A batch of equal numbers of crops from each domain, at random
        offsets drawn from the model's ``_rng_``."""
        rng = self.model._rng_
        by_domain = [[c for c in self.train if c.domain == d] for d in (0, 1)]
        picks = []
        for i in range(self.model.batch_size):
            group = by_domain[i % 2] or by_domain[1 - i % 2]
            clip = group[rng.randint(len(group))]
            picks.append((clip, rng.randint(clip.n_frames - self.crop + 1)))
        return _stack_crops(picks, self.crop)

    def _record(self, totals, valid_loss):
        history = self.model.history_
        history["epoch"].append(self.epoch)
        history["train_loss"].append(totals["loss"])
        history["valid_loss"].append(float(valid_loss))
        for name, value in totals.items():
            if name != "loss":
                history.setdefault(name, []).append(value)

    def _call(self, event, **kwargs):
        for callback in self.callbacks:
            getattr(callback, event)(self.model, self, **kwargs)


def fixed_crops(clips, crop):
    """Batches of deterministic crops covering ``clips``, for a stable loss."""
    picks = [
        (clip, start)
        for clip in clips
        for start in range(0, clip.n_frames - crop + 1, crop)
    ]
    return [_stack_crops(picks[i:i + 16], crop) for i in range(0, len(picks), 16)]


def _stack_crops(picks, crop):
    spec = torch.stack([c.spec[:, s:s + crop] for c, s in picks])
    features = torch.stack([c.features[:, s:s + crop] for c, s in picks])
    f0 = torch.stack([c.f0[s:s + crop] for c, s in picks])
    domain = torch.tensor([c.domain for c, _ in picks], dtype=torch.float32,
                          device=spec.device)
    return ClipData(spec, features, f0, domain)
