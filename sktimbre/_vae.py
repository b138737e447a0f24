"""TimbreVAE: a conditional VAE whose timbre code alpha blends two instruments."""

import numbers

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch.nn import functional as F

from ._base import BaseTimbreModel
from ._features import FEATURE_CONTEXT
from ._nn import (
    ConvEncoder,
    FiLMDecoder,
    FrameClassifier,
    GradientReversal,
    HarmonicRenderer,
    TimbreCode,
    context_frames,
    init_output_bias,
    kl_divergence,
)
from ._spectrogram import _AMIN

__all__ = ["TimbreVAE"]


class TimbreVAE(BaseTimbreModel):
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
    keep_detail : float in [0, 1], default=1.0
        Share of the input's own spectral detail that the decoder does not
        explain (the residual between the input and its reconstruction in its
        own timbre) carried into the output at the input's own timbre; the
        share fades linearly to 0 as alpha moves a full step away from it,
        since that detail belongs to the source instrument. 1 reconstructs the
        input exactly at its own timbre; 0 always outputs the decoder alone.
    hidden : int, default=192
        Channels of the networks.
    n_harmonics : int, default=60
        Harmonics the synthesiser renders.
    n_noise_bands : int, default=64
        Bands of the synthesiser's noise envelope.
    alpha : float in [0, 1], default=0.5
        Timbre ``transform`` renders when called without ``alpha``.
    spectrogram : SpectrogramTransformer, optional
        Settings for raw-audio input when no spectrogram comes from a
        preceding pipeline step; a default one otherwise.
    lr : float, default=2e-3
        Adam learning rate.
    batch_size : int, default=16
        Crops per step, half from each instrument.
    crop_frames : int, default=128
        Frames per training crop.
    max_epochs : int, default=80
        Epochs at most; an epoch shows the network every training frame about
        once.
    max_time : float, optional
        Seconds of training at most, for a predictable cost.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of each instrument's clips and stop
        after ``n_iter_no_change`` epochs without improvement, keeping the
        best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=8
    chunk_frames : int, default=1024
        Frames converted at once; longer pieces go in overlapping chunks whose
        joins are exact, so memory stays bounded.
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``"auto"`` trains on a GPU when there is one.
    warm_start : bool, default=False
        Continue training the fitted networks on the next ``fit``.
    random_state : int, RandomState or None, default=None
        Seeds weights, crops and noise; an int makes CPU fits reproducible.
    verbose : int, default=0
        Show a progress bar with the losses.

    Attributes
    ----------
    spectrogram_ : SpectrogramTransformer
        The fitted transformer of the representation.
    encoder_ : torch.nn.Module or torch.nn.ModuleList
    decoder_, code_, renderer_, latent_classifier_, domain_classifier_ : torch.nn.Module
    optimizer_ : torch.optim.Optimizer
    history_ : dict of lists
        Per-epoch losses (``train_loss``, ``valid_loss``, ``reconstruction``,
        ``kl``, ``adversarial``, ``domain``) and, after training,
        ``latent_domain_accuracy``.
    n_epochs_ : int
    best_epoch_ : int
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
    )
    _optimizer_names = ("optimizer_",)

    _parameter_constraints = {
        **BaseTimbreModel._parameter_constraints,
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "encoder": [StrOptions({"shared", "per_domain"})],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_adversarial": [Interval(numbers.Real, 0, None, closed="left")],
        "keep_detail": [Interval(numbers.Real, 0, 1, closed="both")],
        "hidden": [Interval(numbers.Integral, 4, None, closed="left")],
        "n_harmonics": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_noise_bands": [Interval(numbers.Integral, 2, None, closed="left")],
    }

    def __init__(
        self,
        *,
        latent_dim=16,
        encoder="shared",
        beta=0.05,
        lambda_adversarial=0.1,
        keep_detail=1.0,
        hidden=192,
        n_harmonics=60,
        n_noise_bands=64,
        alpha=0.5,
        spectrogram=None,
        lr=2e-3,
        batch_size=16,
        crop_frames=128,
        max_epochs=80,
        max_time=None,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=8,
        chunk_frames=1024,
        device="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.beta = beta
        self.lambda_adversarial = lambda_adversarial
        self.keep_detail = keep_detail
        self.hidden = hidden
        self.n_harmonics = n_harmonics
        self.n_noise_bands = n_noise_bands
        self.alpha = alpha
        self.spectrogram = spectrogram
        self.lr = lr
        self.batch_size = batch_size
        self.crop_frames = crop_frames
        self.max_epochs = max_epochs
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
        transformer = self.spectrogram_
        n_freq = transformer.n_freq_
        n_encoders = 2 if self.encoder == "per_domain" else 1
        self.encoder_ = torch.nn.ModuleList(
            ConvEncoder(n_freq, self.hidden, self.latent_dim) for _ in range(n_encoders)
        )
        n_features = train[0].features.shape[0]
        code_dim = 16
        self.code_ = TimbreCode(code_dim)
        self.decoder_ = FiLMDecoder(
            n_features + self.latent_dim,
            self.hidden,
            code_dim,
            self.n_harmonics + self.n_noise_bands,
        )
        self.renderer_ = HarmonicRenderer(
            transformer.sr, transformer.n_fft, self.n_harmonics, self.n_noise_bands
        )
        self.latent_classifier_ = torch.nn.Sequential(
            GradientReversal(), FrameClassifier(self.latent_dim, 64)
        )
        self.domain_classifier_ = FrameClassifier(n_freq, 64)
        self._init_levels(train)
        self._ensure_device()
        self._build_optimizers()

    def _build_optimizers(self):
        params = [p for name in self._module_names
                  for p in getattr(self, name).parameters()]
        self.optimizer_ = torch.optim.Adam(params, lr=self.lr)

    def _init_levels(self, train):
        """Start the synthesiser near the data's level: peaks and floor."""
        magnitude = torch.cat([
            self.spectrogram_.magnitude(c.spec.cpu().numpy()) for c in train[:8]
        ], dim=-1).cpu()
        log_peak = float(torch.log(magnitude.amax(dim=0) + _AMIN).median())
        log_floor = float(torch.log(magnitude + _AMIN).median())
        out = self.decoder_.out
        init_output_bias(out, log_floor)
        with torch.no_grad():
            k = torch.arange(1, self.n_harmonics + 1, dtype=torch.float32)
            out.bias[: self.n_harmonics] = log_peak - 1.0 - 1.5 * torch.log(k)

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

    def _decode(self, z, features, f0, alpha):
        code = self.code_(alpha)
        controls = self.decoder_(torch.cat([features, z], dim=1), code)
        harmonic = controls[:, : self.n_harmonics]
        noise = controls[:, self.n_harmonics:]
        magnitude = self.renderer_(f0, harmonic, noise)
        return self._to_representation(magnitude)

    def _to_representation(self, magnitude):
        """Linear magnitude -> the transformer's normalised log (mel) rows."""
        transformer = self.spectrogram_
        if transformer.mel_basis_ is not None:
            basis = torch.as_tensor(transformer.mel_basis_, device=magnitude.device)
            magnitude = basis @ magnitude
        mean = torch.as_tensor(transformer.mean_, dtype=magnitude.dtype,
                               device=magnitude.device)
        scale = torch.as_tensor(transformer.scale_, dtype=magnitude.dtype,
                                device=magnitude.device)
        return (torch.log(magnitude + _AMIN) - mean[:, None]) / scale[:, None]

    def _training_losses(self, batch):
        mean, log_var = self._encode(batch.spec, batch.domain)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        rebuilt = self._decode(z, batch.features, batch.f0, batch.domain)
        reconstruction = F.l1_loss(rebuilt, batch.spec)
        kl = kl_divergence(mean, log_var)
        frame_domain = batch.domain[:, None].expand(-1, batch.spec.shape[-1])
        adversarial = F.binary_cross_entropy_with_logits(
            self.latent_classifier_(z), frame_domain
        )
        domain = F.binary_cross_entropy_with_logits(
            self.domain_classifier_(batch.spec), frame_domain
        )
        loss = (
            reconstruction
            + self.beta * kl
            + self.lambda_adversarial * adversarial
            + domain
        )
        return {
            "loss": loss,
            "reconstruction": reconstruction,
            "kl": kl,
            "adversarial": adversarial,
            "domain": domain,
        }

    @torch.no_grad()
    def _validation_loss(self, batches):
        self._set_train_mode(False)
        total = 0.0
        for batch in batches:
            mean, _ = self._encode(batch.spec, batch.domain)
            rebuilt = self._decode(mean, batch.features, batch.f0, batch.domain)
            total += float(F.l1_loss(rebuilt, batch.spec)) / len(batches)
        return total

    @torch.no_grad()
    def _after_training(self, train, valid_batches):
        """How much instrument identity is left in the latent: 0.5 is none."""
        self._set_train_mode(False)
        batches = valid_batches or self._fixed_batches(train, self._crop_length(train))
        correct, count = 0.0, 0
        for batch in batches:
            mean, _ = self._encode(batch.spec, batch.domain)
            guess = self.latent_classifier_(mean) > 0
            truth = batch.domain[:, None].expand_as(guess) > 0.5
            correct += float((guess == truth).float().sum())
            count += guess.numel()
        self.history_["latent_domain_accuracy"] = correct / max(count, 1)

    def _conversion_margin(self):
        # The decoder reads latents and content features around each frame;
        # a latent reads the spectrogram around its own frame.
        encoder = max(context_frames(e.receptive_field) for e in self.encoder_)
        return context_frames(self.decoder_.receptive_field) + max(
            encoder, FEATURE_CONTEXT)

    def _convert_chunk(self, chunk, source_alpha, target_alpha):
        device = chunk.spec.device
        source = torch.full((1,), source_alpha, device=device)
        target = torch.full((1,), target_alpha, device=device)
        mean, _ = self._encode(chunk.spec, source)
        rendered = self._decode(mean, chunk.features, chunk.f0, target)
        # The input's unexplained detail belongs to its own timbre: keep all of
        # it there (exact reconstruction) and fade it out as alpha moves away.
        weight = self.keep_detail * max(0.0, 1.0 - abs(target_alpha - source_alpha))
        if weight == 0:
            return rendered
        own = self._decode(mean, chunk.features, chunk.f0, source)
        return rendered + weight * (chunk.spec - own)
