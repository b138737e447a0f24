"""TimbreCycleGAN: unpaired spectrogram translation between two instruments,
with alpha moving one voice along the line from a piece to its translation."""

import numbers

import numpy as np
import torch

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
from ._base import BaseTimbreModel
from ._cyclegan_change import match_eq_prior, measured_change, warn_if_unlearnt
from ._cyclegan_losses import CycleGANLossMixin
from ._harmonic_comb import clip_comb, model_comb
from ._nn import (
    FrameClassifier,
    GatedResidualGenerator,
    PatchDiscriminator,
    context_frames,
)
from ._sklearn_compat import Interval
from ._spacing_judge import CALIBRATE_ALPHA_CONSTRAINT, spacing_judge
from ._training_callbacks import LinearLRDecay, WeightAverage

__all__ = ["TimbreCycleGAN"]

# The deepest generator allowed: 24 blocks read 112 frames (1.3 s at the
# default hop) on each side of a frame, four times the default's context.
_MAX_RESIDUAL_BLOCKS = 24


class TimbreCycleGAN(CycleGANLossMixin, BaseTimbreModel):
    """CycleGAN that translates between two instruments and blends them by alpha.

    Two generators translate normalised log-magnitude spectrograms, ``G``
    from instrument A to B and ``F`` from B to A; each adds to its input a
    fixed filter between the two instruments (``match_eq``) and a learnt
    change, a gain and an offset per frequency row and frame (gated 1-D
    convolutions along time, frequency rows as channels), so the input's
    harmonics, and with them its pitch, pass through. Least-squares patch
    discriminators judge each instrument's spectrograms; cycle consistency
    (``F(G(a)) = a``) and identity (the learnt change leaves B alone) losses tie the
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
    lambda_identity : float, default=0.1
        Weight of the identity loss, which asks each generator to leave its
        own target instrument unchanged. Higher holds the learnt change
        nearer zero; at 0.5 csound's flute-to-violin translation fell below
        match-EQ with one seed in three (see the design notes).
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
    match_eq : bool, default=True
        Start each translation from a fixed filter between the two
        instruments (per row, the median log magnitude of B's sounding
        training frames minus A's: a match-EQ of typical frames) and learn
        only what lies beyond it; the identity and loudness losses then
        judge the learnt part. False starts both generators at the identity,
        which left the translations of recordings in a room further from
        the target than a match-EQ.
    draw_harmonics : bool, default=True
        Give each generator the harmonics of the input's pitch (the f0 the
        harmonic-contrast loss reads): besides a gain and an offset per row
        and frame, it learns a weight for a comb of peaks at the input's
        harmonics, so it can draw the target instrument's harmonics where
        the input has too little to scale (a flute's upper harmonics, for a
        violin). False translates from the spectrogram alone, as models
        saved before this parameter did.
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
        of training without that cost. The decay is a ``LambdaLR`` that
        sets the rate every epoch: leave it at 0 when ``callbacks`` hold a
        schedule of your own (an :class:`~sktimbre.callbacks.LRScheduler`).
    ema_decay : float in [0, 1), default=0.99
        The generators kept after training are an exponential moving average
        of their weights over the training steps, with this decay per step
        (0.99: about the last 100 steps; fewer while a fit is young, so
        short fits are not pulled back to the start). An adversarial game
        does not settle: the last step's weights swing with the judges'
        latest verdict, and the average is a steadier generator. 0 keeps the
        last step's weights. The discriminators are not averaged. A fit with
        ``warm_start`` trains on from the last step's weights and goes on
        with the same average, so it equals one uninterrupted fit.
    batch_size : int, default=8
        Crops per step, half from each instrument.
    crop_frames : int, default=64
        Frames per training crop.
    max_epochs : int, default=64
        Epochs at most: 64 of 41 steps (2624 steps) keep a default fit under
        ten minutes on two CPU cores, however much audio it is given.
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
        Seeds weights and crops; an int makes CPU fits reproducible
        on one kind of processor with one number of threads.
    verbose : int, default=0
        Show a progress bar with the losses.
    callbacks : list of Callback, optional
        :class:`~sktimbre.callbacks.Callback` instances called at each
        training event after the model's own (progress, best weights, early
        stopping, ``max_time``, Ctrl-C), for example
        ``[LRScheduler("StepLR", step_size=10, gamma=0.5)]`` for a schedule
        or an :class:`~sktimbre.callbacks.EpochLogger`. See
        :mod:`sktimbre.callbacks`.

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
        How far the kept generators' learnt change (beyond the fixed
        ``match_eq`` filter) moves the training pieces: the mean
        absolute change in dB of the log magnitude that a full translation
        (``alpha`` at the other end) makes to up to 8 training pieces of its
        source instrument (their first 6 seconds), from A to B and from B to
        A. Default fits learnt some 2 to 8 dB on the four development
        sources. When either is under 1 dB after at least 100 training
        steps, ``fit`` warns (a ``UserWarning``): the model returns about
        where it started (the fixed filter, or its input) at every
        ``alpha``.
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
    # Files and pickles of models made before this parameter existed were
    # made as this value makes them.
    _params_of_older_files = {"draw_harmonics": False}

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
        "match_eq": ["boolean"],
        "draw_harmonics": ["boolean"],
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
        lambda_identity=0.1,
        second_adversarial=True,
        lambda_pitch=1.0,
        lambda_loudness=1.0,
        match_eq=True,
        draw_harmonics=True,
        calibrate_alpha=True,
        alpha=0.5,
        spectrogram=None,
        lr=2e-3,
        lr_decay_epochs=0,
        ema_decay=0.99,
        batch_size=8,
        crop_frames=64,
        max_epochs=64,
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
        callbacks=None,
    ):
        self.width = width
        self.n_residual_blocks = n_residual_blocks
        self.discriminator_width = discriminator_width
        self.lambda_cycle = lambda_cycle
        self.lambda_identity = lambda_identity
        self.second_adversarial = second_adversarial
        self.lambda_pitch = lambda_pitch
        self.lambda_loudness = lambda_loudness
        self.match_eq = match_eq
        self.draw_harmonics = draw_harmonics
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
        self.callbacks = callbacks

    # ----------------------------------------------------------- networks
    def _build_networks(self, train):
        n_freq = self.spectrogram_.n_freq_
        self.generator_ab_ = GatedResidualGenerator(
            n_freq, self.width, self.n_residual_blocks, self.draw_harmonics)
        self.generator_ba_ = GatedResidualGenerator(
            n_freq, self.width, self.n_residual_blocks, self.draw_harmonics)
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
        if self.match_eq:
            prior = match_eq_prior(train, self.spectrogram_)
            self.generator_ab_.prior.copy_(prior)
            self.generator_ba_.prior.copy_(-prior)
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

    def _default_callbacks(self):
        """The base's, then the learning-rate decay and the generators'
        moving average, which ends training after the best-weight
        snapshot has ended it."""
        callbacks = super()._default_callbacks()
        if self.lr_decay_epochs > 0:
            callbacks.append(LinearLRDecay(self.lr_decay_epochs, self.max_epochs))
        callbacks.append(WeightAverage(self._generator_names, self.ema_decay))
        return callbacks

    @torch.no_grad()
    def _after_training(self, loop):
        """Space alpha along the lines as an instrument judge hears them,
        once the averaged generators are in place."""
        train = loop.train
        self._set_train_mode(False)
        self.change_db_ = measured_change(self, train)
        warn_if_unlearnt(self, loop.n_steps)
        self.alpha_curve_, self.alpha_judgement_ = unspaced()
        if self.calibrate_alpha is False:
            return
        transformer = self.spectrogram_
        real = judged_pieces(train, transformer)
        lines = []
        for domain, generator in ((0, self.generator_ab_), (1, self.generator_ba_)):
            pieces = evenly(real[domain], JUDGED_PIECES)
            clips = evenly([c for c in train if c.domain == domain], JUDGED_PIECES)
            moved = [generator(piece[None], clip_comb(self, clip, piece.shape[-1]))[0]
                     for piece, clip in zip(pieces, clips)]
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

    def stream(self, *, block_size=512, alpha=None, source=None):
        """Not available: a TimbreCycleGAN has no synthesiser to play its
        spectrograms block by block, and Griffin-Lim reads every frame of a
        clip. Stream with a :class:`~sktimbre.TimbreVAE`.

        Raises
        ------
        NotImplementedError
            Always, saying so.
        """
        raise NotImplementedError(
            "TimbreCycleGAN cannot stream: it outputs spectrograms whose audio "
            "Griffin-Lim recovers from the whole clip, with no synthesiser to "
            "play them block by block. Use TimbreVAE(...).stream(...), or "
            "transform() whole pieces.")

    def _position(self, alpha, line):
        """Where ``alpha`` lies on a line from A's end (0) to B's (1); ``line``
        0 is walked by ``G`` (towards B), 1 by ``F`` (towards A)."""
        return position(alpha, getattr(self, "alpha_curve_", None), line)

    # ---------------------------------------------------------- transform
    def _conversion_margin(self):
        return max(context_frames(getattr(self, name).receptive_field)
                   for name in self._generator_names)

    def _convert_chunk(self, chunk, source_alpha, target_alpha):
        # Move along the straight line from the input towards its full
        # translation into the instrument that alpha heads for; the step is
        # the share of the remaining way, so alpha = source returns the input.
        # Each generator's line has its own spacing of alpha (alpha_curve_).
        spec, alphas = chunk.spec, (source_alpha, target_alpha)
        comb = model_comb(self, chunk.f0, chunk.features[:, 1])
        if target_alpha > source_alpha:
            source, target = (self._position(a, 0) for a in alphas)
            step = (target - source) / (1.0 - source)
            return spec + step * self.generator_ab_.change(spec, comb)
        if target_alpha < source_alpha:
            source, target = (self._position(a, 1) for a in alphas)
            step = (source - target) / source
            return spec + step * self.generator_ba_.change(spec, comb)
        return spec.clone()
