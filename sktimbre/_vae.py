"""TimbreVAE: a conditional VAE whose timbre code alpha blends two instruments."""

import numbers

import torch

from ._base import BaseTimbreModel
from ._nn import (
    ConvEncoder,
    FiLMDecoder,
    FrameClassifier,
    GradientReversal,
    HarmonicRenderer,
    TimbreCode,
)
from ._sklearn_compat import Interval, StrOptions
from ._spacing_judge import CALIBRATE_ALPHA_CONSTRAINT
from ._training import fixed_crops
from ._training_callbacks import WeightAverage
from ._vae_adversary import ConversionAdversaryMixin
from ._vae_alpha import AlphaBlendMixin
from ._vae_audio import AdditiveAudioMixin
from ._vae_diagnostics import measure_fit
from ._vae_inputs import DecoderInputsMixin, n_decoder_features
from ._vae_losses import TrainingLossesMixin
from ._vae_loudness import init_synth_levels, loudness_stats
from ._vae_stream import StreamMixin

__all__ = ["TimbreVAE"]

class TimbreVAE(DecoderInputsMixin, TrainingLossesMixin, AlphaBlendMixin,
                ConversionAdversaryMixin, AdditiveAudioMixin, StreamMixin,
                BaseTimbreModel):
    """Conditional VAE that renders music in a timbre between two instruments.

    An encoder maps spectrogram frames to a small per-frame content latent;
    a decoder, told the frame's pitch and loudness (read from the input) and a
    continuous timbre code, drives a harmonic-plus-noise spectral synthesiser
    whose output is the spectrogram. Because the synthesiser places energy
    only at multiples of the input's f0, pitch is kept by construction; because
    the code is a point on the line between the two instruments' learnt codes,
    ``alpha`` moves one voice from instrument A (0) to instrument B (1).
    A gradient-reversed domain classifier on the latent keeps the timbre out of
    it, so the code, not the latent, decides the instrument
    (``history_["latent_domain_accuracy"]`` measures how well that worked:
    0.5 is ideal).

    Parameters
    ----------
    latent_dim : int, default=16
        Content latent dimensions per frame.
    encoder : {"shared", "per_domain"}, default="shared"
        One encoder for both instruments, or one per instrument with a shared
        decoder (the multi-encoder VAE of Ternes et al. 2022).
    beta : float, default=0.05
        Weight of the KL term.
    lambda_adversarial : float, default=0.1
        Weight of the latent domain classifier, whose gradient is reversed.
    lambda_alpha : float, default=0.05
        Weight of a loss that renders each training crop at a random alpha
        and asks the input domain classifier (held fixed) to judge it
        P(B) = alpha, so that the code, not what the decoder reads of the
        input, decides the instrument: alpha 0.5 from a violin and from a
        flute is then one voice. The same render's frame levels must lie
        between those of its two ends (the crop itself and its full
        conversion) in proportion (in dB, within about 3 dB; history key
        ``judged_level``), or the classifier is fooled by quiet renders.
        0 turns both off.
    lambda_gan : float, default=0.0
        Weight of a least-squares adversarial loss on full conversions: a
        patch discriminator per instrument (the TimbreCycleGAN's) learns to
        tell that instrument's training crops from the other instrument's
        crops converted to it, and the decoder learns to fool it. Above 0
        the conversions play more of the target instrument's own motion
        from frame to frame, which a judge of timbre hears as the target
        more often, at a cost in spectral distance to it; fits take about
        a tenth longer. 0 builds no discriminators (docs/design.md).
    keep_detail : float in [0, 1], default=1.0
        Share of the input's own spectral detail that the decoder does not
        explain (the residual between the input and its reconstruction in its
        own timbre) carried into the output at the input's own timbre; the
        share fades linearly to 0 as alpha moves half a step away from it,
        since that detail belongs to the source instrument. Each bin of the
        output stays between the input's and the decoder's. 1 reconstructs
        the input exactly at its own timbre; 0 always outputs the decoder
        alone.
    latent_dropout : float in [0, 1], default=0.75
        Share of training crops whose content latent the decoder does not
        see, so that it learns to render a frame from its pitch and relative
        loudness alone. When above 0, conversion also fades the latent out
        as ``keep_detail`` fades the input's detail: all of it at the input's
        own timbre, none from half a step away. The latent is what the
        decoder reads of the source instrument's own playing; without it,
        alpha 0.5 from a violin piece and from a flute piece with the same
        notes is rendered from the same inputs. At 1 the decoder never sees
        the latent and no conversion reads it, not even at the input's own
        timbre.
    note_frames : int or "auto", default="auto"
        The decoder is told, per frame, whether it sounds, the frames since
        its note began and (unless ``causal``) the frames until it ends, each
        counted up to ``note_frames``, so that a conversion attacks and
        decays as the target instrument plays a note rather than as the
        input's did. A note begins at a pitch jump or after silence, which do
        not depend on who plays it. Conversion and streaming then read
        ``note_frames + 1`` frames ahead. ``"auto"`` is 32 (about 0.37 s at
        the default hop), or 0 with ``causal`` networks, where counting made
        the conversions worse (docs/design.md); 0 turns it off.
    synthesis : {"additive", "griffinlim"}, default="griffinlim"
        How audio is made from a conversion. ``"additive"`` plays the
        synthesiser's controls (the input's f0, the decoded harmonic
        amplitudes and noise envelope) on phase-continuous oscillators and
        filtered noise, several times faster than ``"griffinlim"``, which
        recovers a phase for the rendered spectrogram from the input's.
        Conversions that keep some of the input's detail (see
        ``keep_detail``) use Griffin-Lim either way. Both give the same
        spectrogram; docs/vae.md compares the audio.
    calibrate_alpha : bool or classifier, default=False
        Put alpha 0.5 where a judge hears the blend half way between the
        instruments. Alpha 0.5 renders either instrument's piece by the
        decoder alone (no latent, none of the input's detail); after
        training, that rendering of up to 6 training pieces per instrument
        (their first 2 seconds) with the timbre code at 0, 0.1, ..., 1 is
        judged by an :class:`~sktimbre.metrics.InstrumentClassifier` on its
        ``"legacy"`` features (``True``) or by a clone of the classifier
        given (any estimator with ``fit`` and ``predict_proba`` that takes
        a list of 1-D clips and labels 0 for A and 1 for B), fitted on
        renders of the training pieces. Alpha 0.5 then puts the code where
        the judged P(instrument B), averaged over both instruments' pieces,
        first reaches one half, in equal steps on either side
        (``alpha_curve_``). Only the code is spaced: what is kept of the
        input follows the alpha asked for, and the ends do not move. It
        adds some 20-40 seconds to ``fit`` on two CPU cores. Off by
        default: the code it chose lies next to the violin's, where the two
        instruments' pieces are rendered further apart (docs/design.md).
    hidden : int, default=128
        Channels of the networks.
    n_harmonics : int, default=60
        Harmonics the synthesiser renders.
    n_noise_bands : int, default=64
        Bands of the synthesiser's noise envelope.
    skirt_bins : int, default=0
        Bins on each side of every rendered harmonic over which the
        synthesiser adds a learnt, symmetric skirt to the window's main
        lobe (an instrument's spectrum is wider around a harmonic than a
        steady sinusoid's). It shapes the rendered spectrogram; additive
        audio and the stream play the controls alone (docs/design.md).
    pitch_table : bool, default=False
        Learn, for each instrument, an offset to every harmonic and noise
        level per semitone of pitch (linear between semitones and along
        alpha), which the decoder adds to what it renders: a lookup for the
        note-to-note changes of a spectrum (strings, registers, sample
        zones) that a network reading pitch as one number smooths over.
        It brings conversions closer to the target but widens the blend gap
        at alpha 0.5, so it is off by default; turn it on for conversions
        rather than blends (docs/design.md).
    causal : bool, default=False
        Networks whose output frame reads no later frame (convolutions padded
        on the left only, loudness averaged over the frames before, no note
        counts by default), for a low-latency :meth:`stream`: its
        algorithmic latency drops from about 600 ms (325 ms with
        ``note_frames=0``) to about 35 ms at the default spectrogram
        settings, at a cost in quality measured in docs/benchmarks.md.
    alpha : float in [0, 1], default=0.5
        Timbre ``transform`` renders when called without ``alpha``.
    spectrogram : SpectrogramTransformer, optional
        Settings for raw-audio input when no spectrogram comes from a
        preceding pipeline step; a default one otherwise.
    lr : float, default=2e-3
        Adam learning rate.
    ema_decay : float in [0, 1), default=0.98
        Each epoch is judged (held-out loss, early stopping, the weights
        kept) by an exponential moving average of the networks' weights over
        the training steps, with this decay per step (about the last 50
        steps; fewer while a fit is young), and the model keeps the best
        epoch's average: steadier than the last step's weights, which swing
        with each batch. 0 judges and keeps the last step's weights.
    batch_size : int, default=16
        Crops per step, half from each instrument.
    crop_frames : int, default=128
        Frames per training crop.
    max_epochs : int, default=50
        Epochs at most.
    steps_per_epoch : int or None, default=10
        Training steps per epoch, so that the cost of a fit is bounded by
        ``max_epochs * steps_per_epoch`` steps (500 by default) whatever the
        amount of audio: to train longer, raise ``max_epochs`` (and
        ``n_iter_no_change``, or turn ``early_stopping`` off). None makes an
        epoch one pass over the training frames, so that the cost grows with
        the data.
    max_time : float, optional
        Seconds of training at most, for a predictable cost.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of each instrument's clips and stop
        after ``n_iter_no_change`` epochs without improvement, keeping the
        best weights. Without it (or with fewer than two clips of an
        instrument) training runs ``max_epochs`` and keeps the weights of
        the epoch with the lowest training loss.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=20
        Epochs without a better held-out loss before training stops. The
        held-out clips are a tenth of each instrument's, so their loss
        wanders from epoch to epoch: with 8, fits stopped on a plateau that
        later epochs left (docs/design.md). The epoch kept is the best.
    chunk_frames : int, default=1024
        Frames converted at once; longer pieces go in overlapping chunks whose
        joins are exact, so memory stays bounded.
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``"auto"`` trains on a GPU when there is one.
    warm_start : bool, default=False
        Continue training the fitted networks on the next ``fit``.
    random_state : int, RandomState or None, default=None
        Seeds weights, crops and noise; an int makes CPU fits reproducible
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
    encoder_ : torch.nn.Module or torch.nn.ModuleList
    decoder_, code_, renderer_, latent_classifier_, domain_classifier_ : torch.nn.Module
    optimizer_ : torch.optim.Optimizer
    history_ : dict of lists
        Per-epoch losses (``train_loss``, ``valid_loss``, ``reconstruction``,
        ``kl``, ``adversarial``, ``domain``, ``judged_alpha``,
        ``judged_level``) and, after training, ``latent_domain_accuracy`` and
        ``conversion_level_error_db``: how far (dB, beyond a 3 dB slack) full
        conversions of held-out crops stray from the level the other
        instrument plays their notes at; ``fit`` warns above 20 dB.
        ``valid_loss`` is the loss on the held-out clips, NaN when none were
        held out.
    alpha_curve_ : ndarray of shape (2, 11)
        Where the timbre code sits at ``alpha`` 0, 0.1, ..., 1; both rows
        (pieces of A, pieces of B) are the same spacing. Linear when
        ``calibrate_alpha=False``, when the pieces are too short to judge,
        or when the judge heard no change.
    alpha_judgement_ : ndarray of shape (2, 11)
        The judge's mean P(instrument B) of the decoder's renders (as alpha
        0.5 renders them) with the code at 0, 0.1, ..., 1, of pieces of A
        (row 0) and of B (row 1), from which ``alpha_curve_`` is made; NaN
        where nothing was judged.
    n_epochs_ : int
    best_epoch_ : int
        The epoch whose weights were kept: the lowest ``valid_loss``, or
        ``train_loss`` when no clips were held out.
    device_ : torch.device
    classes_ : ndarray of shape (2,)
        The two domains: ``["A", "B"]`` or the labels given to ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import TimbreVAE
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(11025) / 22050
    >>> a = [np.sin(2 * np.pi * f * t).astype(np.float32) * 0.5 for f in (220, 330)]
    >>> b = [np.sign(np.sin(2 * np.pi * f * t)).astype(np.float32) * 0.2
    ...      for f in (262, 392)]
    >>> vae = TimbreVAE(max_epochs=1, early_stopping=False, random_state=0)
    >>> vae = vae.fit(a, b)
    >>> vae.transform(a[0], alpha=1.0).shape
    (11025,)
    """

    _module_names = (
        "encoder_",
        "decoder_",
        "code_",
        "renderer_",
        "latent_classifier_",
        "domain_classifier_",
        "discriminator_a_",
        "discriminator_b_",
    )
    _optimizer_names = ("optimizer_",)

    _parameter_constraints = {
        **BaseTimbreModel._parameter_constraints,
        **AdditiveAudioMixin._synthesis_constraints,
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "encoder": [StrOptions({"shared", "per_domain"})],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_adversarial": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_gan": [Interval(numbers.Real, 0, None, closed="left")],
        "keep_detail": [Interval(numbers.Real, 0, 1, closed="both")],
        "latent_dropout": [Interval(numbers.Real, 0, 1, closed="both")],
        "note_frames": [Interval(numbers.Integral, 0, None, closed="left"),
                        StrOptions({"auto"})],
        "calibrate_alpha": CALIBRATE_ALPHA_CONSTRAINT,
        "hidden": [Interval(numbers.Integral, 4, None, closed="left")],
        "n_harmonics": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_noise_bands": [Interval(numbers.Integral, 2, None, closed="left")],
        "skirt_bins": [Interval(numbers.Integral, 0, None, closed="left")],
        "pitch_table": ["boolean"],
        "causal": ["boolean"],
        "ema_decay": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    # Files and pickles of models made before these parameters existed were
    # made as these values make them.
    _params_of_older_files = {"latent_dropout": 0.0, "note_frames": 0,
                              "ema_decay": 0.0, "pitch_table": False,
                              "lambda_gan": 0.0, "skirt_bins": 0}
    # Networks that those files lack: with lambda_gan=0 they have no weights.
    _networks_of_older_files = ConversionAdversaryMixin._discriminator_names
    _state_names = BaseTimbreModel._state_names + ("_average_state_",)

    def __init__(
        self,
        *,
        latent_dim=16,
        encoder="shared",
        beta=0.05,
        lambda_adversarial=0.1,
        lambda_alpha=0.05,
        lambda_gan=0.0,
        keep_detail=1.0,
        latent_dropout=0.75,
        note_frames="auto",
        synthesis="griffinlim",
        calibrate_alpha=False,
        hidden=128,
        n_harmonics=60,
        n_noise_bands=64,
        skirt_bins=0,
        pitch_table=False,
        causal=False,
        alpha=0.5,
        spectrogram=None,
        lr=2e-3,
        ema_decay=0.98,
        batch_size=16,
        crop_frames=128,
        max_epochs=50,
        steps_per_epoch=10,
        max_time=None,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        chunk_frames=1024,
        device="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.beta = beta
        self.lambda_adversarial = lambda_adversarial
        self.lambda_alpha = lambda_alpha
        self.lambda_gan = lambda_gan
        self.keep_detail = keep_detail
        self.latent_dropout = latent_dropout
        self.note_frames = note_frames
        self.synthesis = synthesis
        self.calibrate_alpha = calibrate_alpha
        self.hidden = hidden
        self.n_harmonics = n_harmonics
        self.n_noise_bands = n_noise_bands
        self.skirt_bins = skirt_bins
        self.pitch_table = pitch_table
        self.causal = causal
        self.alpha = alpha
        self.spectrogram = spectrogram
        self.lr = lr
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
        transformer = self.spectrogram_
        n_freq = transformer.n_freq_
        n_encoders = 2 if self.encoder == "per_domain" else 1
        self.encoder_ = torch.nn.ModuleList(
            ConvEncoder(n_freq, self.hidden, self.latent_dim, causal=self.causal)
            for _ in range(n_encoders)
        )
        code_dim = 16
        self.code_ = TimbreCode(code_dim)
        self.decoder_ = FiLMDecoder(
            n_decoder_features(self) + self.latent_dim,
            self.hidden,
            code_dim,
            self.n_harmonics + self.n_noise_bands,
            causal=self.causal,
            pitch_table=self.pitch_table,
        )
        self.renderer_ = HarmonicRenderer(
            transformer.sr, transformer.n_fft, self.n_harmonics,
            self.n_noise_bands, skirt_bins=self.skirt_bins,
        )
        self.latent_classifier_ = torch.nn.Sequential(
            GradientReversal(), FrameClassifier(self.latent_dim, 64)
        )
        self.domain_classifier_ = FrameClassifier(n_freq, 64)
        self._build_discriminators(n_freq)
        init_synth_levels(self.decoder_.out, self.n_harmonics, self.spectrogram_, train)
        self.decoder_.register_buffer("loudness_stats", loudness_stats(train))
        self._ensure_device()
        self._build_optimizers()

    def _build_optimizers(self):
        params = [p for name in self._module_names
                  if name not in self._discriminator_names
                  for p in getattr(self, name).parameters()]
        self.optimizer_ = torch.optim.Adam(params, lr=self.lr)
        self._add_discriminator_group(self.optimizer_)

    def _default_callbacks(self):
        """The base's, then the moving average that judges each epoch."""
        return super()._default_callbacks() + [
            WeightAverage(self._module_names, self.ema_decay, evaluate=True)]

    # ------------------------------------------------------------ forward
    def _encode(self, spec, domain):
        """Posterior over the latent; per_domain blends encoders by domain."""
        if len(self.encoder_) == 1:
            return self.encoder_[0](spec)
        weight = domain.reshape(-1, 1, 1)
        mean_a, log_var_a = self.encoder_[0](spec)
        mean_b, log_var_b = self.encoder_[1](spec)
        return (
            (1 - weight) * mean_a + weight * mean_b,
            (1 - weight) * log_var_a + weight * log_var_b,
        )

    def _decode(self, z, features, f0, alpha, source=None):
        """Synthesiser output at ``alpha`` for content read from a clip of
        instrument ``source`` (``alpha`` itself when omitted)."""
        inputs = self._decoder_inputs(z, features, alpha if source is None else source)
        return self._render(inputs, f0, alpha)

    def _render(self, inputs, f0, alpha):
        """Normalised spectrogram the synthesiser renders from the decoder's
        ``inputs`` (see :meth:`_decoder_inputs`) at ``alpha``."""
        controls = self.decoder_(inputs, self.code_(alpha))
        harmonic = controls[:, : self.n_harmonics]
        noise = controls[:, self.n_harmonics:]
        magnitude = self.renderer_(f0, harmonic, noise)
        return self._to_representation(magnitude)

    def _to_representation(self, magnitude):
        """Linear magnitude -> the transformer's normalised log (mel) rows."""
        return self.spectrogram_.from_magnitude(magnitude)

    @torch.no_grad()
    def _after_training(self, loop):
        """Measure the fit (see _vae_diagnostics), then space alpha."""
        train = loop.train
        self._set_train_mode(False)
        batches = loop.valid_batches or fixed_crops(train, loop.crop)
        measure_fit(self, batches, loop.n_steps)
        self._space_alpha(train)

    def _convert_chunk(self, chunk, source_alpha, target_alpha, position=None):
        # Only the code is spaced (alpha_curve_, or ``position`` when given):
        # how much of the input's own latent and detail is kept follows the
        # alpha asked for, so that at 0.5 both instruments' pieces reach the
        # decoder alone, whatever the spacing. The source's alpha is the
        # domain classifier's estimate, already on the decoder's own scale.
        if position is None:
            position = self._position(target_alpha)
        mean, inputs, source = self._content_inputs(chunk, source_alpha, target_alpha)
        rendered = self._render(inputs, chunk.f0,
                                torch.full((1,), position, device=chunk.spec.device))
        # The input's unexplained detail belongs to its own timbre: keep all of
        # it there (exact reconstruction) and fade it out as alpha moves away.
        weight = self._detail_weight(source_alpha, target_alpha)
        if weight == 0:
            return rendered
        own = self._decode(mean, chunk.features, chunk.f0, source)
        kept = rendered + weight * (chunk.spec - own)
        # Each bin stays between the input and the render: where the rebuilt
        # input lacked a noise floor the render has, it came out far above both.
        spec = chunk.spec
        return kept.clamp(torch.minimum(spec, rendered), torch.maximum(spec, rendered))
