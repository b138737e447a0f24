"""What every timbre model shares: parameters, fit (input forms, the
validation split, random crops; the loop and its callbacks are in
:mod:`sktimbre._training` and :mod:`sktimbre._training_callbacks`) and
devices. Conversion is in :mod:`sktimbre._conversion`, input forms in
:mod:`sktimbre._inputs`, saving and pickling in :mod:`sktimbre._storage`.
Subclasses hold only their networks and losses."""

import copy
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state

from ._conversion import ConversionMixin
from ._device import limit_threads, resolve_device
from ._features import content_features
from ._inputs import ClipData, is_spectrogram_input, to_specs
from ._sklearn_compat import Interval, InvalidParameterError, fit_context
from ._spectrogram import SpectrogramTransformer
from ._spectrogram_array import carried_transformer
from ._storage import StorageMixin
from ._training import FIT_FRAMES, TrainingLoop
from ._training_callbacks import (
    EarlyStopping,
    KeepBestWeights,
    MaxTime,
    ProgressBar,
    WarnOnInterrupt,
)
from ._validation import as_plain, check_clips, split_instruments
from .callbacks import Callback

__all__ = ["BaseTimbreModel"]


class BaseTimbreModel(ConversionMixin, StorageMixin, BaseEstimator):
    """Base class of the timbre models; not for direct use.

    Subclasses define ``_build_networks``, ``_training_losses``,
    ``_validation_loss``, ``_convert_chunk`` and ``_conversion_margin``, list
    their modules in ``_module_names``, and may add callbacks of their own
    in ``_default_callbacks``.
    """

    _module_names = ()
    _optimizer_names = ()
    # Optimizers that the "loss" of _training_losses updates; a subclass with
    # a separate adversary updates that one itself through _optimize.
    _loss_optimizer_names = None
    # Whether fit ends with the weights of the epoch with the lowest
    # validation loss, or training loss without a validation split (True),
    # or of the last epoch (False: for adversarial training, whose losses do
    # not rank epochs by quality).
    _keeps_best_epoch = True
    # Saved weights besides the modules (dicts of state dicts), which pickle
    # as CPU tensors like the modules do.
    _state_names = ("_best_state_", "_resume_state_")

    _parameter_constraints = {
        "alpha": [Interval(numbers.Real, 0, 1, closed="both")],
        "spectrogram": [SpectrogramTransformer, None],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "crop_frames": [Interval(numbers.Integral, 8, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "steps_per_epoch": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "max_time": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "chunk_frames": [Interval(numbers.Integral, 16, None, closed="left")],
        "device": [str, torch.device],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
    }

    # ------------------------------------------------------------- inputs
    def _resolve_fit_inputs(self, X, y):
        """Return (transformer, specs_a, specs_b) from either calling form."""
        X, y = as_plain(X), as_plain(y)
        # A missing y is reported before anything about X, as sklearn expects.
        if y is not None and not is_spectrogram_input(X):
            check_clips(X, name="X")
        x_a, x_b, classes = split_instruments(X, y, who=type(self).__name__)
        self.classes_ = np.array(["A", "B"]) if classes is None else classes
        transformer = carried_transformer(X) or carried_transformer(y)
        if transformer is None:
            transformer = self._fit_transformer(x_a, x_b)
        return (
            transformer,
            to_specs(transformer, x_a, "X"),
            to_specs(transformer, x_b, "X" if classes is not None else "y"),
        )

    def _fit_transformer(self, x_a, x_b):
        if self._is_warm():
            # The networks learnt this representation: keep it on a warm fit.
            return self.spectrogram_
        base = self.spectrogram if self.spectrogram is not None else (
            SpectrogramTransformer()
        )
        transformer = clone(base)
        if transformer.device == "auto":
            transformer.set_params(device=self.device)
        return transformer.fit(x_a, x_b)

    def _clip_data(self, spec, domain, peak=None):
        transformer = self.spectrogram_
        tensor = torch.as_tensor(spec, dtype=torch.float32, device=self.device_)
        magnitude = transformer.magnitude(spec).to(self.device_)
        features, f0 = content_features(
            magnitude, sr=transformer.sr, n_fft=transformer.n_fft, peak=peak
        )
        return ClipData(tensor, features, f0, domain)

    # ---------------------------------------------------------------- fit
    # Nested validation stays on: the spectrogram parameter is an estimator
    # the user configured, whose parameters are checked when it is fitted.
    @fit_context(prefer_skip_nested_validation=False)
    @limit_threads()
    def fit(self, X, y=None):
        """Learn both timbres from unpaired clips.

        Parameters
        ----------
        X : array-like or Spectrogram
            Domain A clips (a list of 1-D arrays of any lengths, or a 2-D array
            ``(n_clips, n_samples)``), or their spectrograms from a preceding
            :class:`~sktimbre.SpectrogramTransformer`; or all clips, when ``y``
            holds labels.
        y : array-like
            Domain B clips (raw audio is put into ``X``'s representation), or
            one label per clip of ``X`` with exactly two classes (the sorted
            first is domain A).

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import TimbreVAE
        >>> t = np.arange(22050) / 22050
        >>> bright = [(0.3 * np.sign(np.sin(2 * np.pi * f * t))).astype(np.float32)
        ...           for f in (220, 330)]
        >>> pure = [(0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)
        ...         for f in (440, 550)]
        >>> vae = TimbreVAE(hidden=16, max_epochs=1, random_state=0)
        >>> vae.fit(bright, pure).n_clips_  # two sets of clips: A, then B
        (2, 2)
        >>> labelled = TimbreVAE(hidden=16, max_epochs=1, random_state=0)
        >>> labelled.fit(bright + pure, ["b", "b", "p", "p"]).classes_.tolist()
        ['b', 'p']
        """
        callbacks = self._checked_callbacks()
        warm = self._is_warm()
        self.device_ = resolve_device(self.device)
        transformer, specs_a, specs_b = self._resolve_fit_inputs(X, y)
        self.spectrogram_ = transformer
        self.input_is_spectrogram_ = carried_transformer(X) is not None
        rng = check_random_state(self.random_state)
        if not warm:
            self._rng_ = np.random.RandomState(rng.randint(2**31 - 1))
            self._torch_seed_ = int(rng.randint(2**31 - 1))
            self._split_seed_ = int(rng.randint(2**31 - 1))
        clips = [self._clip_data(s, 0) for s in specs_a] + [
            self._clip_data(s, 1) for s in specs_b
        ]
        train, valid = self._split_validation(clips)
        self.n_clips_ = (len(specs_a), len(specs_b))
        self.n_frames_seen_ = sum(c.n_frames for c in clips)
        # Training needs gradients even where the caller turned them off
        # (a fit inside torch.no_grad(), as in an evaluation script).
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            if warm:
                # Continue the random streams and the weights where the last
                # fit stopped, so a resumed fit equals an uninterrupted one.
                torch.set_rng_state(self._torch_rng_state_)
            else:
                torch.manual_seed(self._torch_seed_)
                self._build_networks(train)
                self.history_ = {"epoch": [], "train_loss": [], "valid_loss": []}
            try:
                TrainingLoop(self, callbacks, train, valid, warm_start=warm).run()
            finally:
                self._torch_rng_state_ = torch.get_rng_state()
        return self

    def _is_warm(self):
        return bool(self.warm_start) and hasattr(self, "_torch_rng_state_")

    def _split_validation(self, clips):
        use = self.early_stopping
        by_domain = [[c for c in clips if c.domain == d] for d in (0, 1)]
        if use and min(len(group) for group in by_domain) < 2:
            warnings.warn(
                "early_stopping needs at least two clips of each instrument to "
                "hold some out; training on all clips for max_epochs instead.",
                UserWarning,
                stacklevel=2 + FIT_FRAMES,
            )
            use = False
        if not use:
            return clips, []
        # A generator of its own draws the same split on every (warm) fit and
        # leaves the training stream untouched.
        split_rng = np.random.RandomState(self._split_seed_)
        train, valid = [], []
        for group in by_domain:
            order = split_rng.permutation(len(group))
            n_valid = max(1, int(round(self.validation_fraction * len(group))))
            valid += [group[i] for i in order[:n_valid]]
            train += [group[i] for i in order[n_valid:]]
        return train, valid

    def _training_step(self, batch):
        losses = self._training_losses(batch)
        self._optimize(losses["loss"], self._optimizers(self._loss_optimizer_names))
        return {name: float(value.detach()) for name, value in losses.items()}

    def _optimize(self, loss, optimizers):
        """One checked update: a non-finite loss stops fit with the last good
        weights restored; gradients are clipped to norm 1 per optimizer."""
        if not torch.isfinite(loss):
            self._restore_best()
            raise FloatingPointError(
                f"The training loss became {loss.item()} at epoch "
                f"{len(self.history_['epoch'])}; the last good weights were "
                "kept. Lower lr, or check the input for extreme values."
            )
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in optimizers:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        for optimizer in optimizers:
            optimizer.step()

    def _optimizers(self, names=None):
        names = self._optimizer_names if names is None else names
        return [getattr(self, name) for name in names]

    def _weights(self):
        return {
            name: copy.deepcopy(getattr(self, name).state_dict())
            for name in self._module_names
        }

    def _load_weights(self, weights):
        for name, state in (weights or {}).items():
            getattr(self, name).load_state_dict(state)

    def _restore_best(self):
        self._load_weights(getattr(self, "_best_state_", None))

    def _set_train_mode(self, mode):
        for name in self._module_names:
            getattr(self, name).train(mode)

    def _default_callbacks(self):
        """The callbacks every fit runs, before the user's ``callbacks``.

        Early stopping reads the best loss before the snapshot updates it;
        a subclass's additions come after the snapshot's."""
        callbacks = [
            ProgressBar(self.verbose),
            EarlyStopping(self.n_iter_no_change),
            KeepBestWeights(self._keeps_best_epoch),
            WarnOnInterrupt(),
        ]
        if self.max_time is not None:
            callbacks.append(MaxTime(self.max_time))
        return callbacks

    def _checked_callbacks(self):
        user = [] if self.callbacks is None else list(self.callbacks)
        for index, callback in enumerate(user):
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks[{index}] is a {type(callback).__name__}, not a "
                    "sktimbre.callbacks.Callback; pass instances of Callback "
                    "subclasses, such as LRScheduler('StepLR', step_size=10).")
        return self._default_callbacks() + user

    def _after_training(self, loop):
        """Hook for measurements taken once training ended; ``loop`` is the
        finished :class:`~sktimbre._training.TrainingLoop`."""

    # ------------------------------------------------------ device, params
    def _ensure_device(self):
        for name in self._module_names:
            module = getattr(self, name)
            # Only when needed: Module.to reassigns every parameter, which
            # would race with a transform running in another thread.
            if any(t.device != self.device_ for t in _tensors(module)):
                module.to(self.device_)

    def set_params(self, **params):
        """Set parameters, refusing a new value outside its range.

        As :meth:`sklearn.base.BaseEstimator.set_params`, and each value
        that changes is checked against the parameter's constraints, so that
        a fitted model never converts with, say, ``chunk_frames=0``. Values
        given to the constructor are checked by ``fit``, as in scikit-learn;
        setting a parameter to the value it already has checks nothing.

        Parameters
        ----------
        **params : dict
            Parameter names and values; ``spectrogram__n_fft`` style for
            the nested transformer's.

        Returns
        -------
        self

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A ``ValueError`` naming the parameter and the values it takes;
            the parameters are left as they were.

        Examples
        --------
        >>> from sktimbre import TimbreVAE
        >>> vae = TimbreVAE().set_params(chunk_frames=512)
        >>> try:
        ...     vae.set_params(chunk_frames=0)
        ... except ValueError as exc:
        ...     print(exc)
        The 'chunk_frames' parameter of TimbreVAE must be an int in the range
        [16, inf). Got 0 instead.
        >>> vae.chunk_frames
        512
        """
        before = self.get_params(deep=True)
        changed = [key for key in params
                   if key not in before or params[key] is not before[key]]
        super().set_params(**params)
        if not changed:
            return self
        try:
            self._validate_params()
            if self.spectrogram is not None and any(
                    key.startswith("spectrogram") for key in changed):
                self.spectrogram._validate_params()
        except InvalidParameterError:
            super().set_params(**{k: before[k] for k in params if k in before})
            raise
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.target_tags.required = True
        tags.non_deterministic = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _tensors(module):
    yield from module.parameters()
    yield from module.buffers()
