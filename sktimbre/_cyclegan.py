"""TimbreCycleGAN: unpaired spectrogram translation between two instruments,
with alpha moving one voice along the line from a piece to its translation."""

import numbers
import warnings
from functools import partial

import numpy as np
import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel

from ._alpha_spacing import (
    JUDGE_EXAMPLES,
    JUDGED_PIECES,
    even_steps,
    evenly,
    judge_lines,
    judged_pieces,
    position,
    unspaced,
)
from ._base import FIT_FRAMES, BaseTimbreModel
from ._frozen import frozen
from ._nn import (
    FrameClassifier,
    GatedResidualGenerator,
    PatchDiscriminator,
    context_frames,
    frame_loudness,
)
from ._sklearn_compat import Interval
from ._spacing_judge import CALIBRATE_ALPHA_CONSTRAINT, spacing_judge

__all__ = ["TimbreCycleGAN"]

# The deepest generator allowed: 24 blocks read 112 frames (1.3 s at the
# default hop) on each side of a frame, four times the default's context.
_MAX_RESIDUAL_BLOCKS = 24


class TimbreCycleGAN(BaseTimbreModel):
    """CycleGAN that translates between two instruments and blends them by alpha.

    Two generators translate normalised log-magnitude spectrograms, ``G``
    from instrument A to B and ``F`` from B to A; each adds a learnt change to
    its input, a gain and an offset per frequency row and frame (gated 1-D
    convolutions along time, frequency rows as channels), so the input's
    harmonics, and with them its pitch, pass through. Least-squares patch
    discriminators judge each instrument's spectrograms; cycle consistency
    (``F(G(a)) = a``) and identity (``G(b) = b``) losses tie the
    translation to its input (Zhu et al. 2017), a harmonic-contrast loss
    keeps the pitch trackable and a loudness loss each frame's level, and a
    second adversarial step judges the cycled spectrograms too (CycleGAN-VC2,
    Kaneko et al. 2019). The generators kept are a moving average of their
    weights over training.

    ``alpha`` moves along the change: a piece of instrument A at ``alpha``
    becomes ``a + t(alpha) * (G(a) - a)``, a point on the straight line in
    log magnitude from the piece to its full translation. Both ends share
    the input's harmonics, so every point on the line is one voice, not two
    mixed. With ``calibrate_alpha`` the position ``t(alpha)`` is spaced so
    that an instrument judge hears alpha move evenly (half way in its
    judgement at ``alpha=0.5``); otherwise ``t(alpha) = alpha``.
    :meth:`inverse_transform` of a full translation is the other generator.

    Parameters
    ----------
    width : int, default=128
        Channels of the generators' residual blocks.
    n_residual_blocks : int in [0, 24], default=6
        Gated residual blocks per generator. Each block widens the time
        context of a frame's translation (dilations cycle 1, 2, 4): 6 blocks
        read 28 frames on each side (0.33 s at the default hop), 24 blocks
        112 (1.3 s), which is as deep as a generator goes; conversion reads
        that many frames around every chunk it converts.
    discriminator_width : int, default=64
        Channels of the discriminators' first layer.
    lambda_cycle : float, default=6.0
        Weight of the cycle-consistency loss. Higher brings pieces back more
        faithfully through both generators but slows the translation: at 10
        a default-length CPU fit stays at the identity, and the loudness
        loss already ties each translation to its input's level.
    lambda_identity : float, default=0.5
        Weight of the identity loss, which asks each generator to leave its
        own target instrument unchanged.
    second_adversarial : bool, default=True
        Also judge the cycled spectrograms ``F(G(a))`` and ``G(F(b))`` with a
        second pair of discriminators, against the over-smoothing an L1
        cycle loss alone allows (CycleGAN-VC2). It brings pieces back
        closer through both generators, at the cost of two more
        discriminators' work per step.
    lambda_pitch : float, default=1.0
        Weight of the harmonic-contrast loss: in each pitched frame, the
        translation must keep the peaks at the input's harmonics (of the f0
        read from the input) as far above the troughs between them as the
        input has them, so that the pitch stays audible and trackable.
    lambda_loudness : float, default=1.0
        Weight of the loudness loss: each frame of a translation keeps the
        input's loudness (log of its summed power) to within about 6 dB, as
        the TimbreVAE keeps it by conditioning on it. Without it nothing
        ties a translation's level to its input's, since the patch
        discriminators normalise each frame and the cycle lets the other
        generator undo any gain.
    calibrate_alpha : bool or classifier, default=True
        Space the positions along each line so that ``alpha`` is heard
        evenly. Equal steps in log magnitude are not equal steps in
        timbre: the instrument heard turns over early (the "equal steps"
        row of the conversion benchmark in the documentation). After training, an
        :class:`~sktimbre.metrics.InstrumentClassifier` on its ``"legacy"``
        features (not the set the benchmarks score with; ``True``), or a
        clone of the classifier given (any estimator with ``fit`` and
        ``predict_proba`` that takes a list of 1-D clips and labels 0 for A
        and 1 for B), fitted on renders of the training pieces, judges
        renders of points at 11 positions along the lines of up to 6
        training pieces per instrument (their first 2 seconds); ``alpha``
        then maps to the position where its P(instrument B) has risen by
        alpha's share of the whole rise, for each generator's lines
        (``alpha_curve_``). The ends (``alpha`` 0 and 1) do not change.
        Rendering and judging about 160 two-second clips
        adds some 20 seconds to ``fit`` on two CPU cores; pieces shorter
        than about 0.4 s are not judged, and leave alpha linear.
    alpha : float in [0, 1], default=0.5
        Timbre ``transform`` renders when called without ``alpha``.
    spectrogram : SpectrogramTransformer, optional
        Settings for raw-audio input when no spectrogram comes from a
        preceding pipeline step; a default one otherwise.
    lr : float, default=2e-3
        Adam learning rate of the generators and the discriminators
        (betas 0.5, 0.999, as GANs use).
    lr_decay_epochs : int, default=0
        The learning rate falls linearly towards zero over this many last
        epochs of each ``fit`` (``max_epochs`` sets where they end), as the
        image CycleGAN recipe does; 0 keeps ``lr`` throughout. On the
        default data it brought pieces back closer through both generators
        but moved flute to violin less well; ``ema_decay`` settles the end
        of training without that cost.
    ema_decay : float in [0, 1), default=0.99
        The generators kept after training are an exponential moving average
        of their weights over the training steps, with this decay per step
        (0.99 averages about the last 100 steps; fewer while a fit is young,
        so short fits are not pulled back to the start). An adversarial game
        does not settle: the last step's weights swing with the judges'
        latest verdict, and the average is a steadier generator. 0 keeps the
        last step's weights. The discriminators are not averaged. A fit with
        ``warm_start`` trains on from the last step's weights and goes on
        with the same average, so it equals one uninterrupted fit.
    batch_size : int, default=8
        Crops per step, half from each instrument.
    crop_frames : int, default=64
        Frames per training crop.
    max_epochs : int, default=32
        Epochs at most. 32 epochs of 41 steps (1312 steps) keep a default fit
        under ten minutes on two CPU cores, however much audio it is given.
    steps_per_epoch : int or None, default=41
        Training steps per epoch, so that the cost of a fit is bounded by
        ``max_epochs * steps_per_epoch`` steps whatever the amount of audio:
        to train longer, raise ``max_epochs``. 41 steps of 8 crops of 64
        frames show the default data's 2 minutes per instrument about once.
        None makes an epoch one pass over the training frames, so that the
        cost grows with the data.
    max_time : float, optional
        Seconds of training at most, for a predictable cost.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of each instrument's clips and stop
        after ``n_iter_no_change`` epochs without improvement of their cycle
        plus identity error. Off by default: that error grows while the
        translation moves away from the identity, which is the point of
        training. The last epoch's weights are kept either way, since
        adversarial losses do not rank epochs by quality.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=20
    chunk_frames : int, default=1024
        Frames converted at once; longer pieces go in overlapping chunks whose
        joins are exact, so memory stays bounded.
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``"auto"`` trains on a GPU when there is one.
    warm_start : bool, default=False
        Continue training the fitted networks on the next ``fit``.
    random_state : int, RandomState or None, default=None
        Seeds weights and crops; an int makes CPU fits reproducible.
    verbose : int, default=0
        Show a progress bar with the losses.

    Attributes
    ----------
    spectrogram_ : SpectrogramTransformer
        The fitted transformer of the representation.
    generator_ab_, generator_ba_ : torch.nn.Module
        ``G`` (A to B) and ``F`` (B to A).
    discriminator_a_, discriminator_b_ : torch.nn.Module
        Judges of real A and real B spectrograms.
    discriminator_a2_, discriminator_b2_ : torch.nn.Module
        Judges of cycled spectrograms (identity modules when
        ``second_adversarial=False``).
    domain_classifier_ : torch.nn.Module
        Frame-wise P(instrument B) of real spectrograms, which decides the
        source instrument of an input.
    alpha_curve_ : ndarray of shape (2, 11)
        Position along the line (0 = instrument A's end, 1 = B's end) at
        ``alpha`` 0, 0.1, ..., 1: row 0 for moves towards B (the lines that
        ``G`` walks from pieces of A), row 1 for moves towards A (``F``'s
        lines from pieces of B). Linear when ``calibrate_alpha=False``, when
        the pieces are too short to judge, or when the judge heard no change.
    alpha_judgement_ : ndarray of shape (2, 11)
        The judge's mean P(instrument B) at positions 0, 0.1, ..., 1 along
        each row's lines, from which ``alpha_curve_`` is made; NaN where
        nothing was judged.
    change_db_ : ndarray of shape (2,)
        How far the kept generators move the training pieces: the mean
        absolute change in dB of the log magnitude that a full translation
        (``alpha`` at the other end) makes to up to 8 training pieces of its
        source instrument (their first 6 seconds), from A to B and from B to
        A. Default fits moved the default data's pieces by some 6 to 8 dB
        and the csound bank's by about 4 to 14 dB. When either is under 1 dB after
        at least 100 training steps, ``fit`` warns (a ``UserWarning``): the
        model returns about its input at every ``alpha``.
    generator_optimizer_, discriminator_optimizer_ : torch.optim.Optimizer
    history_ : dict of lists
        Per-epoch losses: ``train_loss`` (the generators' total),
        ``valid_loss`` (held-out cycle plus identity L1; NaN when no clips
        were held out), ``adversarial``, ``cycle``, ``identity``, ``pitch``,
        ``loudness``, ``second_adversarial``, ``discriminator`` and
        ``domain``.
    n_epochs_ : int
    best_epoch_ : int
    device_ : torch.device
    classes_ : ndarray of shape (2,)
        The two domains: ``["A", "B"]`` or the labels given to ``fit``.

    See Also
    --------
    TimbreVAE : A conditional VAE that renders the blend with a synthesiser.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreCycleGAN
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * f * t).astype(np.float32) * 0.5 for f in (220, 330)]
    >>> b = [np.sign(np.sin(2 * np.pi * f * t)).astype(np.float32) * 0.2
    ...      for f in (262, 392)]
    >>> gan = TimbreCycleGAN(width=16, max_epochs=1, early_stopping=False,
    ...                      random_state=0).fit(a, b)
    >>> gan.transform(a[0], alpha=1.0).shape
    (11025,)
    >>> sorted(k for k in gan.history_ if k not in ("epoch", "train_loss"))[:3]
    ['adversarial', 'cycle', 'discriminator']
    """

    _module_names = (
        "generator_ab_",
        "generator_ba_",
        "discriminator_a_",
        "discriminator_b_",
        "discriminator_a2_",
        "discriminator_b2_",
        "domain_classifier_",
    )
    _optimizer_names = ("generator_optimizer_", "discriminator_optimizer_")
    _loss_optimizer_names = ("generator_optimizer_",)
    _generator_names = _module_names[:2]
    _discriminator_names = _module_names[2:]
    _keeps_best_epoch = False
    _state_names = BaseTimbreModel._state_names + ("_average_state_",)

    _parameter_constraints = {
        **BaseTimbreModel._parameter_constraints,
        "width": [Interval(numbers.Integral, 4, None, closed="left")],
        "n_residual_blocks": [Interval(numbers.Integral, 0, _MAX_RESIDUAL_BLOCKS,
                                       closed="both")],
        "discriminator_width": [Interval(numbers.Integral, 4, None, closed="left")],
        "lambda_cycle": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_identity": [Interval(numbers.Real, 0, None, closed="left")],
        "second_adversarial": ["boolean"],
        "lambda_pitch": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_loudness": [Interval(numbers.Real, 0, None, closed="left")],
        "calibrate_alpha": CALIBRATE_ALPHA_CONSTRAINT,
        "lr_decay_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "ema_decay": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        *,
        width=128,
        n_residual_blocks=6,
        discriminator_width=64,
        lambda_cycle=6.0,
        lambda_identity=0.5,
        second_adversarial=True,
        lambda_pitch=1.0,
        lambda_loudness=1.0,
        calibrate_alpha=True,
        alpha=0.5,
        spectrogram=None,
        lr=2e-3,
        lr_decay_epochs=0,
        ema_decay=0.99,
        batch_size=8,
        crop_frames=64,
        max_epochs=32,
        steps_per_epoch=41,
        max_time=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=20,
        chunk_frames=1024,
        device="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.width = width
        self.n_residual_blocks = n_residual_blocks
        self.discriminator_width = discriminator_width
        self.lambda_cycle = lambda_cycle
        self.lambda_identity = lambda_identity
        self.second_adversarial = second_adversarial
        self.lambda_pitch = lambda_pitch
        self.lambda_loudness = lambda_loudness
        self.calibrate_alpha = calibrate_alpha
        self.alpha = alpha
        self.spectrogram = spectrogram
        self.lr = lr
        self.lr_decay_epochs = lr_decay_epochs
        self.ema_decay = ema_decay
        self.batch_size = batch_size
        self.crop_frames = crop_frames
        self.max_epochs = max_epochs
        self.steps_per_epoch = steps_per_epoch
        self.max_time = max_time
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.chunk_frames = chunk_frames
        self.device = device
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------- networks
    def _build_networks(self, train):
        n_freq = self.spectrogram_.n_freq_
        self.generator_ab_ = GatedResidualGenerator(
            n_freq, self.width, self.n_residual_blocks)
        self.generator_ba_ = GatedResidualGenerator(
            n_freq, self.width, self.n_residual_blocks)
        self.discriminator_a_ = PatchDiscriminator(n_freq, self.discriminator_width)
        self.discriminator_b_ = PatchDiscriminator(n_freq, self.discriminator_width)
        if self.second_adversarial:
            self.discriminator_a2_ = PatchDiscriminator(
                n_freq, self.discriminator_width)
            self.discriminator_b2_ = PatchDiscriminator(
                n_freq, self.discriminator_width)
        else:
            self.discriminator_a2_ = torch.nn.Identity()
            self.discriminator_b2_ = torch.nn.Identity()
        self.domain_classifier_ = FrameClassifier(n_freq, 64)
        self._ensure_device()
        self._build_optimizers()

    def _build_optimizers(self):
        def parameters(names):
            return [p for name in names for p in getattr(self, name).parameters()]

        betas = (0.5, 0.999)
        self.generator_optimizer_ = torch.optim.Adam(
            parameters(self._generator_names), lr=self.lr, betas=betas)
        self.discriminator_optimizer_ = torch.optim.Adam(
            parameters(self._discriminator_names), lr=self.lr, betas=betas)

    def _start_epoch(self, index):
        # Linear decay over the last lr_decay_epochs of this fit: 1 until
        # then, then (decay - 1) / decay, ..., 1 / decay.
        remaining = self.max_epochs - index
        scale = 1.0 if self.lr_decay_epochs == 0 else min(
            1.0, remaining / self.lr_decay_epochs)
        for optimizer in self._optimizers():
            for group in optimizer.param_groups:
                group["lr"] = self.lr * scale
        if index == 0 and self.ema_decay > 0:
            self._generator_average = {
                name: AveragedModel(getattr(self, name), device=self.device_,
                                    avg_fn=partial(_moving_average, self.ema_decay))
                for name in self._generator_names}
            # A warm fit goes on with the average the last fit left (its
            # count of steps included), so a resumed fit equals an
            # uninterrupted one.
            saved = getattr(self, "_average_state_", None) if self._is_warm() else None
            for name, state in (saved or {}).items():
                self._generator_average[name].load_state_dict(state)
        if index == 0:
            self._steps_this_fit = 0

    def _training_step(self, batch):
        losses = super()._training_step(batch)
        self._steps_this_fit = getattr(self, "_steps_this_fit", 0) + 1
        for name, average in getattr(self, "_generator_average", {}).items():
            average.update_parameters(getattr(self, name))
        return losses

    # ------------------------------------------------------------- losses
    def _training_losses(self, batch):
        """Update the discriminators, then return the generators' losses.

        The base class steps the generators' optimiser with ``"loss"``; the
        judges take their own least-squares step here first, on the current
        translations detached from the generators.
        """
        is_b = batch.domain > 0.5
        real_a, real_b = batch.spec[~is_b], batch.spec[is_b]
        n_a, n_b = len(real_a), len(real_b)
        # Each generator sees the other instrument (to translate) and its own
        # (for the identity loss) in one call: fewer, larger convolutions.
        fake_b, same_b = self.generator_ab_(torch.cat([real_a, real_b])).split(
            [n_a, n_b])
        fake_a, same_a = self.generator_ba_(torch.cat([real_b, real_a])).split(
            [n_b, n_a])
        cycled_a = self.generator_ba_(fake_b)
        cycled_b = self.generator_ab_(fake_a)

        judged = [
            (self.discriminator_a_, real_a, fake_a),
            (self.discriminator_b_, real_b, fake_b),
        ]
        if self.second_adversarial:
            judged += [
                (self.discriminator_a2_, real_a, cycled_a),
                (self.discriminator_b2_, real_b, cycled_b),
            ]
        discriminator = sum(
            _judged_loss(judge, real, fake.detach()) for judge, real, fake in judged
        ) / len(judged)
        frame_domain = batch.domain[:, None].expand(-1, batch.spec.shape[-1])
        domain = F.binary_cross_entropy_with_logits(
            self.domain_classifier_(batch.spec), frame_domain)
        self._optimize(discriminator + domain, self._optimizers(
            ("discriminator_optimizer_",)))

        # The judges are fixed while the generators learn to fool them.
        judges = [getattr(self, name) for name in self._discriminator_names]
        with frozen(*judges):
            adversarial = 0.5 * (
                _least_squares(self.discriminator_b_(fake_b), 1.0)
                + _least_squares(self.discriminator_a_(fake_a), 1.0)
            )
        cycle = 0.5 * (F.l1_loss(cycled_a, real_a) + F.l1_loss(cycled_b, real_b))
        identity = 0.5 * (F.l1_loss(same_b, real_b) + F.l1_loss(same_a, real_a))
        # Both content losses compare log magnitudes: undo the normalisation
        # once per tensor.
        log_a, log_b, log_fake_b, log_fake_a = (
            self.spectrogram_.denormalise(spec)
            for spec in (real_a, real_b, fake_b, fake_a))
        pitch = 0.5 * (
            self._contrast_lost(log_a, log_fake_b, batch, ~is_b)
            + self._contrast_lost(log_b, log_fake_a, batch, is_b)
        )
        loudness = 0.5 * (_loudness_moved(log_a, log_fake_b)
                          + _loudness_moved(log_b, log_fake_a))
        losses = {"adversarial": adversarial, "cycle": cycle, "identity": identity,
                  "pitch": pitch, "loudness": loudness}
        total = adversarial + self.lambda_cycle * cycle + (
            self.lambda_identity * identity) + self.lambda_pitch * pitch + (
            self.lambda_loudness * loudness)
        if self.second_adversarial:
            with frozen(*judges):
                second = 0.5 * (
                    _least_squares(self.discriminator_a2_(cycled_a), 1.0)
                    + _least_squares(self.discriminator_b2_(cycled_b), 1.0)
                )
            losses["second_adversarial"] = second
            total = total + second
        return {"loss": total, **losses, "discriminator": discriminator.detach(),
                "domain": domain.detach()}

    def _contrast_lost(self, real, fake, batch, rows):
        """Harmonic contrast of ``real`` that ``fake`` lost, in nepers,
        weighted by how periodic each frame is; both are log magnitudes."""
        # Row centre frequencies, linear or mel alike.
        centres = torch.as_tensor(self.spectrogram_.frequencies_, dtype=real.dtype,
                                  device=real.device)
        f0, periodicity = batch.f0[rows], batch.features[rows, 1]
        kept, wanted = (_harmonic_contrast(spec, f0, centres) for spec in (fake, real))
        return (periodicity * F.relu(wanted - kept)).mean()

    @torch.no_grad()
    def _validation_loss(self, batches):
        """Held-out cycle plus identity L1: how faithfully pieces come back."""
        self._set_train_mode(False)
        total = 0.0
        for batch in batches:
            is_b = batch.domain > 0.5
            errors = []
            for real, there, back in (
                (batch.spec[~is_b], self.generator_ab_, self.generator_ba_),
                (batch.spec[is_b], self.generator_ba_, self.generator_ab_),
            ):
                if len(real):
                    errors.append(F.l1_loss(back(there(real)), real))
                    errors.append(F.l1_loss(back(real), real))
            total += float(sum(errors) / len(errors)) / len(batches)
        return total

    @torch.no_grad()
    def _after_training(self, train, valid_batches):
        """Keep the averaged generators, then space alpha along the lines as
        an instrument judge hears them."""
        averages = self.__dict__.pop("_generator_average", {})
        self._average_state_ = {name: average.state_dict()
                                for name, average in averages.items()} or None
        if averages and self._resume_state_ is None:
            # Training goes on from the last step's weights, not the average.
            self._resume_state_ = self._weights()
        for name, average in averages.items():
            for parameter, value in zip(getattr(self, name).parameters(),
                                        average.module.parameters()):
                parameter.copy_(value)
        self._set_train_mode(False)
        self.change_db_ = self._measured_change(train)
        steps = self.__dict__.pop("_steps_this_fit", 0)
        if steps >= _JUDGED_AFTER_STEPS and (
                self.change_db_.min() < _LEAST_CHANGE_DB):
            warnings.warn(
                "The generators barely change their input: a full translation "
                f"moves the training pieces by {self.change_db_[0]:.3f} dB from "
                f"A to B and {self.change_db_[1]:.3f} dB from B to A on average "
                f"(change_db_), under the {_LEAST_CHANGE_DB} dB that any real "
                "conversion moves them, so transform returns about its input at "
                "every alpha. Train longer (max_epochs), raise lr, lower "
                "lambda_cycle or lambda_identity, and check that X and y hold "
                "two different instruments.",
                UserWarning,
                stacklevel=4 + FIT_FRAMES,
            )
        self.alpha_curve_, self.alpha_judgement_ = unspaced()
        if self.calibrate_alpha is False:
            return
        transformer = self.spectrogram_
        real = judged_pieces(train, transformer)
        lines = []
        for domain, generator in ((0, self.generator_ab_), (1, self.generator_ba_)):
            pieces = evenly(real[domain], JUDGED_PIECES)
            moved = [generator(piece[None])[0] for piece in pieces]
            # Every line runs from instrument A's end to B's end.
            ends = zip(pieces, moved) if domain == 0 else zip(moved, pieces)
            lines.append([(start.cpu().numpy(), end.cpu().numpy())
                          for start, end in ends])
        examples = [[piece.cpu().numpy() for piece in evenly(group, JUDGE_EXAMPLES)]
                    for group in real]
        judge = spacing_judge(self.calibrate_alpha, transformer.sr)
        judgement = judge_lines(lines, transformer, real=examples, judge=judge)
        if judgement is not None:
            self.alpha_judgement_ = judgement
            self.alpha_curve_ = np.stack([even_steps(row) for row in judgement])

    def _measured_change(self, train):
        """Mean absolute change in dB of log magnitude that each generator's
        full translation makes to the first frames of up to
        ``_CHANGE_PIECES`` training pieces of its source instrument: A to B,
        then B to A."""
        to_db = 20.0 / np.log(10.0)
        scale = None
        change = np.zeros(2)
        for domain, generator in ((0, self.generator_ab_), (1, self.generator_ba_)):
            pieces = evenly([c.spec[:, :_CHANGE_FRAMES] for c in train
                              if c.domain == domain], _CHANGE_PIECES)
            if not pieces:
                continue
            if scale is None:
                scale = torch.as_tensor(self.spectrogram_.scale_,
                                        dtype=pieces[0].dtype,
                                        device=pieces[0].device)[:, None]
            moved = [(generator.change(piece[None])[0] * scale).abs()
                     for piece in pieces]
            values = sum(m.numel() for m in moved)
            change[domain] = to_db * float(sum(m.sum() for m in moved)) / values
        return change

    def _position(self, alpha, line):
        """Where ``alpha`` lies on a line from A's end (0) to B's (1); ``line``
        0 is walked by ``G`` (towards B), 1 by ``F`` (towards A)."""
        return position(alpha, getattr(self, "alpha_curve_", None), line)

    # ---------------------------------------------------------- transform
    def _source_alpha(self, probability):
        """The input's instrument, 0 (A) or 1 (B): generators know only two."""
        return float(round(probability))

    def _conversion_margin(self):
        return max(context_frames(getattr(self, name).receptive_field)
                   for name in self._generator_names)

    def _convert_chunk(self, chunk, source_alpha, target_alpha):
        # Move along the straight line from the input towards its full
        # translation into the instrument that alpha heads for; the step is
        # the share of the remaining way, so alpha = source returns the input.
        # Each generator's line has its own spacing of alpha (alpha_curve_).
        spec, alphas = chunk.spec, (source_alpha, target_alpha)
        if target_alpha > source_alpha:
            source, target = (self._position(a, 0) for a in alphas)
            step = (target - source) / (1.0 - source)
            return spec + step * self.generator_ab_.change(spec)
        if target_alpha < source_alpha:
            source, target = (self._position(a, 1) for a in alphas)
            step = (source - target) / source
            return spec + step * self.generator_ba_.change(spec)
        return spec.clone()



# How the generators' change is measured after training (change_db_), and
# the least mean change in dB that a fit is expected to make: default fits
# moved the default data's pieces by 6 to 8 dB and the csound bank's by about
# 4 to 14, while fits that learnt nothing stay under 0.5.
_CHANGE_PIECES = 8
_CHANGE_FRAMES = 512
_LEAST_CHANGE_DB = 1.0
# Fits of fewer steps (smoke tests) are too short to be expected to move.
_JUDGED_AFTER_STEPS = 100

_CONTRAST_HARMONICS = 6
_CONTRAST_DECAY = 0.8
# Two instruments playing the same notes differ in level by a few dB, so
# only a loudness change beyond this many nepers (about 6 dB) costs.
_LOUDNESS_SLACK = 0.7


def _harmonic_contrast(log_magnitude, f0, centres):
    """Decay-weighted sum over harmonics k of the log magnitude at k * f0
    minus that at (k - 1/2) * f0, per frame.

    ``log_magnitude`` is (batch, n_rows, T), ``f0`` (batch, T) in Hz and
    ``centres`` the rows' centre frequencies (linear or mel); returns
    (batch, T).
    """
    total = torch.zeros_like(f0)
    for k in range(1, _CONTRAST_HARMONICS + 1):
        weight = _CONTRAST_DECAY ** (k - 1)
        audible = (f0 * k < centres[-2]).to(f0.dtype)
        peak = _at_frequency(log_magnitude, f0 * k, centres)
        trough = _at_frequency(log_magnitude, f0 * (k - 0.5), centres)
        total = total + weight * audible * (peak - trough)
    return total


def _at_frequency(values, hz, centres):
    """``values`` (batch, n_rows, T) interpolated linearly between the rows
    whose centre frequencies bracket ``hz`` (batch, T)."""
    upper = torch.searchsorted(centres, hz.contiguous()).clamp(1, len(centres) - 1)
    lower = upper - 1
    frac = ((hz - centres[lower]) / (centres[upper] - centres[lower])).clamp(0, 1)
    low_values = values.gather(1, lower[:, None]).squeeze(1)
    high_values = values.gather(1, upper[:, None]).squeeze(1)
    return low_values + frac * (high_values - low_values)


def _loudness_moved(real, fake):
    """Mean change of frame loudness from ``real`` to ``fake`` (log
    magnitudes, batch, n_rows, T) beyond the slack, in nepers: the log of a
    frame's summed power, halved."""
    moved = [frame_loudness(log_magnitude) for log_magnitude in (real, fake)]
    return F.relu((moved[1] - moved[0]).abs() - _LOUDNESS_SLACK).mean()


def _judged_loss(judge, real, fake):
    """Least-squares loss of a judge that should score ``real`` 1 and
    ``fake`` 0, from one call on both."""
    scores = judge(torch.cat([real, fake]))
    return _least_squares(scores[:len(real)], 1.0) + _least_squares(
        scores[len(real):], 0.0)


def _moving_average(decay, average, value, n_averaged):
    """One step of an exponential moving average whose decay grows to
    ``decay`` with the number of steps averaged (as TensorFlow's moving
    averages with a step count do): a young average forgets faster, so a
    short fit is not held at its start."""
    # Tensor arithmetic throughout: reading the count back would stall a GPU.
    step_decay = (n_averaged / (n_averaged + 9.0)).clamp(max=decay)
    return average + (1.0 - step_decay).to(average.dtype) * (value - average)


def _least_squares(scores, target):
    return (scores - target).pow(2).mean()
