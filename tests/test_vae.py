import copy
import warnings

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from sktimbre import Spectrogram, SpectrogramTransformer, TimbreVAE, convert
from sktimbre.callbacks import Callback

from .conftest import harmonic_tone, median_cents_moved

# The CPU: bitwise reproducibility is its contract; tests/test_cuda.py runs
# the models on a GPU.
FAST = dict(max_epochs=2, hidden=24, early_stopping=False, random_state=0,
            steps_per_epoch=None, calibrate_alpha=False, device="cpu")


def test_pipeline_as_users_write_it(two_instruments, tmp_path):
    a, b = two_instruments
    pipe = Pipeline([("spec", SpectrogramTransformer()),
                     ("vae", TimbreVAE(latent_dim=8, **FAST))])
    pipe.fit(a, b)
    piece = a[0]
    S = pipe["vae"].transform(pipe["spec"].transform(piece), alpha=0.5)
    assert isinstance(S, Spectrogram) and S.timbre[1] == 0.5
    hybrid = pipe["spec"].inverse_transform(S)
    assert hybrid.shape == piece.shape and np.isfinite(hybrid).all()
    joblib.dump(pipe, tmp_path / "vae.joblib")
    loaded = joblib.load(tmp_path / "vae.joblib")
    again = loaded["spec"].inverse_transform(
        loaded["vae"].transform(loaded["spec"].transform(piece), alpha=0.5))
    assert np.allclose(hybrid, again, atol=1e-5)
    assert np.allclose(convert(pipe, piece, alpha=0.5), hybrid, atol=1e-5)


def test_metadata_routing_passes_alpha(two_instruments):
    a, b = two_instruments
    with sklearn.config_context(enable_metadata_routing=True):
        vae = TimbreVAE(**FAST).set_transform_request(alpha=True)
        pipe = Pipeline([("spec", SpectrogramTransformer()), ("vae", vae)]).fit(a, b)
        routed = pipe.transform(a[0], alpha=0.25)
        assert routed.timbre[1] == 0.25
        direct = pipe["vae"].transform(pipe["spec"].transform(a[0]), alpha=0.25)
        assert np.allclose(routed, direct)


def test_labels_form_equals_pair_form(two_instruments):
    a, b = two_instruments
    pair = TimbreVAE(**FAST).fit(a, b)
    labelled = TimbreVAE(**FAST).fit(a + b, ["violin"] * len(a) + ["flute"] * len(b))
    assert list(labelled.classes_) == ["flute", "violin"]
    assert pair.n_clips_ == (len(a), len(b))
    with pytest.raises(ValueError, match="exactly two"):
        TimbreVAE(**FAST).fit(a + b, [0] * 4 + [1] * 4 + [2] * 4)


def test_fit_is_reproducible_on_cpu(two_instruments):
    a, b = two_instruments
    one = TimbreVAE(**FAST).fit(a, b).transform(a[1], alpha=0.7)
    two = clone(TimbreVAE(**FAST)).fit(a, b).transform(a[1], alpha=0.7)
    other = TimbreVAE(**{**FAST, "random_state": 1}).fit(a, b).transform(a[1],
                                                                          alpha=0.7)
    assert np.array_equal(one, two)
    assert not np.allclose(one, other)


def test_audio_in_audio_out_and_layouts(tiny_vae, two_instruments):
    a, _ = two_instruments
    assert tiny_vae.transform(a[0]).shape == a[0].shape
    batch = tiny_vae.transform(np.stack(a[:2]), alpha=1.0)
    assert batch.shape == (2, len(a[0]))
    ragged = tiny_vae.transform([a[0], a[1][:9000]], alpha=1.0)
    assert [len(r) for r in ragged] == [len(a[0]), 9000]


def test_pitch_is_kept_by_construction(tiny_vae, two_instruments):
    a, _ = two_instruments
    assert median_cents_moved(tiny_vae, a[0], alpha=1.0) < 20


def test_own_timbre_reconstruction_is_exact_with_keep_detail(tiny_vae, two_instruments):
    a, _ = two_instruments
    S = tiny_vae.spectrogram_.transform(a[0])
    own = tiny_vae._estimate_source_alpha(S)
    rebuilt = tiny_vae.transform(S, alpha=own)
    assert np.allclose(rebuilt, S, atol=1e-4)


def test_a_clip_is_read_as_one_instrument_not_a_place_between(tiny_vae,
                                                              two_instruments):
    a, b = two_instruments
    for clip, end in ((a[0], 0.0), (b[0], 1.0)):
        S = tiny_vae.spectrogram_.transform(clip)
        assert tiny_vae._estimate_source_alpha(S) == end
        # Its own end gives it back exactly, however sure the classifier was.
        np.testing.assert_allclose(tiny_vae.transform(S, alpha=end), S, atol=1e-4)


def test_inverse_transform_undoes_transform(tiny_vae, two_instruments):
    a, _ = two_instruments
    S = tiny_vae.spectrogram_.transform(a[0])
    there = tiny_vae.transform(S, alpha=1.0)
    back = tiny_vae.inverse_transform(there)
    assert back.timbre[1] == pytest.approx(there.timbre[0])
    explicit = tiny_vae.transform(there, alpha=there.timbre[0])
    assert np.allclose(back, explicit, atol=1e-5)
    # Without the record of where it came from, the opposite instrument is used.
    plain = tiny_vae.inverse_transform([np.asarray(there)])
    assert plain[0].timbre[1] in (0.0, 1.0)


def test_chunked_conversion_has_no_seams(tiny_vae):
    long_clip = harmonic_tone(330.0, [1, 0.5, 0.3], seconds=4.0, vibrato_cents=20)
    S = tiny_vae.spectrogram_.transform(long_clip)
    whole = tiny_vae.transform(S, alpha=0.5)
    chunked = clone(tiny_vae)
    chunked.__dict__.update({k: v for k, v in tiny_vae.__dict__.items()
                             if k.endswith("_")})
    chunked.chunk_frames = 64
    assert np.allclose(chunked.transform(S, alpha=0.5), whole, atol=1e-4)


def test_alpha_is_validated_and_unfitted_use_raises(tiny_vae, two_instruments):
    a, _ = two_instruments
    with pytest.raises(ValueError, match=r"alpha=1.5 is outside \[0, 1\]"):
        tiny_vae.transform(a[0], alpha=1.5)
    with pytest.raises(NotFittedError):
        TimbreVAE().transform(a[0])
    with pytest.raises(ValueError, match="requires y"):
        TimbreVAE(**FAST).fit(a)


def test_spectrogram_from_other_settings_is_refused(tiny_vae, two_instruments):
    a, b = two_instruments
    other = SpectrogramTransformer(n_fft=512).fit(a)
    with pytest.raises(ValueError, match="other settings"):
        tiny_vae.transform(other.transform(a[0]))


def test_history_and_fitted_attributes(tiny_vae):
    h = tiny_vae.history_
    assert tiny_vae.n_epochs_ == len(h["train_loss"]) == 3
    assert {"reconstruction", "kl", "adversarial", "domain"} <= set(h)
    assert 0 <= h["latent_domain_accuracy"] <= 1
    assert tiny_vae.device_ == torch.device("cpu")


def test_early_stopping_and_max_time(two_instruments):
    a, b = two_instruments
    vae = TimbreVAE(hidden=16, max_epochs=200, n_iter_no_change=2, lr=1e-6,
                    calibrate_alpha=False,
                    steps_per_epoch=None, random_state=0).fit(a, b)
    assert vae.n_epochs_ < 200
    timed = TimbreVAE(hidden=16, max_epochs=500, max_time=1.0, early_stopping=False,
                      calibrate_alpha=False, steps_per_epoch=None,
                      random_state=0).fit(a, b)
    assert timed.n_epochs_ < 500


def test_per_domain_encoders(two_instruments):
    a, b = two_instruments
    vae = TimbreVAE(encoder="per_domain", **FAST).fit(a, b)
    assert len(vae.encoder_) == 2
    assert vae.transform(a[0], alpha=1.0).shape == a[0].shape


def test_warm_start_continues(two_instruments):
    a, b = two_instruments
    vae = TimbreVAE(warm_start=True, **FAST).fit(a, b)
    vae.fit(a, b)
    assert vae.n_epochs_ == 4


class LastWeights(Callback):
    """The networks' weights as each step found them (before it), then the
    last step's."""

    def on_train_begin(self, model, loop):
        self.seen = []

    def on_batch_begin(self, model, loop):
        self.seen.append(_parameters(model))


def _parameters(model):
    return [p.detach().clone() for name in model._module_names
            for p in getattr(model, name).parameters()]


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_the_weights_kept_are_the_judged_moving_average(two_instruments, decay):
    a, b = two_instruments
    steps = LastWeights()
    vae = TimbreVAE(**{**FAST, "max_epochs": 1, "steps_per_epoch": 4},
                    ema_decay=decay, callbacks=[steps]).fit(a, b)
    # The last step's weights: what training goes on from, kept apart from
    # the average (without one, the weights kept).
    last = [vae._resume_state_[name][key] for name in vae._module_names
            for key, _ in getattr(vae, name).named_parameters()] if decay else (
        _parameters(vae))
    after_each_step = steps.seen[1:] + [last]
    expected = after_each_step[0]
    for n_averaged, now in enumerate(after_each_step[1:], 1):
        # The decay grows with the steps averaged, up to ``decay``.
        step_decay = min(decay, n_averaged / (n_averaged + 9))
        expected = [e + (1 - step_decay) * (w - e) for e, w in zip(expected, now)]
    kept = _parameters(vae)
    assert all(torch.allclose(k, e, atol=1e-6) for k, e in zip(kept, expected))
    # With a decay the weights kept are not the last step's; training goes
    # on from those.
    assert (decay > 0) == any(
        not torch.equal(k, w) for k, w in zip(kept, after_each_step[-1]))


def test_inputs_not_modified(two_instruments):
    a, b = two_instruments
    copies = [x.copy() for x in a + b]
    vae = TimbreVAE(**FAST).fit(a, b)
    vae.transform(a[0], alpha=1.0)
    assert all(np.array_equal(x, c) for x, c in zip(a + b, copies))


def test_fake_cuda_pickle_loads_on_cpu(tiny_vae, tmp_path, two_instruments):
    a, _ = two_instruments
    tiny_vae.device_ = torch.device("cuda")  # as if fitted on a GPU
    try:
        joblib.dump(tiny_vae, tmp_path / "gpu.joblib")
    finally:
        tiny_vae.device_ = torch.device("cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the CPU fallback is not exercised")
    with pytest.warns(UserWarning, match="fitted on CUDA"):
        loaded = joblib.load(tmp_path / "gpu.joblib")
    assert loaded.device_.type == "cpu"
    assert np.allclose(loaded.transform(a[0], alpha=1.0),
                       tiny_vae.transform(a[0], alpha=1.0), atol=1e-5)


def _adam_steps(model):
    """Steps the optimiser of the reconstruction or generator loss took."""
    optimizer = getattr(model, "optimizer_", None) or model.generator_optimizer_
    return {int(state["step"]) for state in optimizer.state.values()}


@pytest.mark.parametrize("model_class", ["TimbreVAE", "TimbreCycleGAN"])
def test_training_steps_do_not_grow_with_the_data(two_instruments, model_class):
    import sktimbre

    a, b = two_instruments
    cls = getattr(sktimbre, model_class)
    width = {"hidden": 16} if model_class == "TimbreVAE" else {"width": 8}
    # No spacing of alpha after training: it renders and judges ~150 clips.
    params = dict(max_epochs=2, steps_per_epoch=3, early_stopping=False,
                  calibrate_alpha=False, random_state=0, device="cpu", **width)
    small = cls(**params).fit(a[:2], b[:2])
    large = cls(**params).fit(a + a, b + b)
    # The generators' optimiser (the only one of the VAE) counts the steps.
    assert _adam_steps(small) == _adam_steps(large) == {6}
    # None: one pass over the training frames per epoch, as many steps as
    # the audio asks.
    per_pass = dict(params, steps_per_epoch=None)
    assert max(_adam_steps(cls(**per_pass).fit(a + a, b + b))) > max(_adam_steps(
        cls(**per_pass).fit(a[:1], b[:1])))


def test_the_judged_alpha_loss_trains_and_is_recorded(two_instruments):
    a, b = two_instruments
    vae = TimbreVAE(lambda_alpha=0.5, **FAST).fit(a, b)
    for name in ("judged_alpha", "judged_level"):
        judged = vae.history_[name]
        assert len(judged) == vae.n_epochs_ and np.isfinite(judged).all()
    # Switched off, the term is not computed at all.
    history = TimbreVAE(lambda_alpha=0, **FAST).fit(a, b).history_
    assert "judged_alpha" not in history and "judged_level" not in history


def test_alpha_is_spaced_once_for_both_instruments_by_another_judge(two_instruments):
    from sktimbre._alpha_spacing import POSITIONS
    from sktimbre._spacing_judge import spacing_judge

    a, b = two_instruments
    spaced = TimbreVAE(**{**FAST, "calibrate_alpha": True}).fit(a, b)
    curve, judgement = spaced.alpha_curve_, spaced.alpha_judgement_
    assert curve.shape == judgement.shape == (2, len(POSITIONS))
    assert np.isfinite(judgement).all()
    # One spacing for renders from both instruments, ends fixed, monotone.
    assert np.array_equal(curve[0], curve[1])
    assert curve[0, 0] == 0.0 and curve[0, -1] == 1.0
    assert np.all(np.diff(curve[0]) >= 0)
    # The judge that spaces alpha is not the benchmarks' (EQ-invariant) one.
    assert spacing_judge(True, 22050).feature_set == "legacy"
    # Switched off, alpha is linear and nothing is judged.
    linear = TimbreVAE(**FAST).fit(a, b)
    assert np.array_equal(linear.alpha_curve_, np.tile(POSITIONS, (2, 1)))
    assert np.isnan(linear.alpha_judgement_).all()


def test_transform_renders_at_the_spaced_alpha(tiny_vae, two_instruments):
    import copy

    a, _ = two_instruments
    vae = copy.deepcopy(tiny_vae).set_params(keep_detail=0.0, latent_dropout=0.0)
    vae.alpha_curve_ = np.tile(np.linspace(0.0, 1.0, 11) ** 0.5, (2, 1))
    # alpha 0.2 now renders what alpha sqrt(0.2) rendered unspaced, where
    # nothing of the input fades with alpha.
    spaced = vae.transform(a[0], alpha=0.2)
    vae.alpha_curve_ = np.tile(np.linspace(0.0, 1.0, 11), (2, 1))
    np.testing.assert_allclose(spaced, vae.transform(a[0], alpha=0.2 ** 0.5),
                               atol=1e-5)
    assert np.abs(spaced - vae.transform(a[0], alpha=0.2)).max() > 1e-3


def test_only_the_code_is_spaced(tiny_vae, two_instruments):
    import copy

    from sktimbre._alpha_spacing import POSITIONS

    a, _ = two_instruments
    vae = copy.deepcopy(tiny_vae)
    assert vae.keep_detail > 0 and vae.latent_dropout > 0
    S = vae.spectrogram_.transform(a[0])
    unspaced_half = vae.transform(S, alpha=0.5, source="A")
    ends = [vae.transform(S, alpha=alpha, source="A") for alpha in (0.0, 1.0)]
    vae.alpha_curve_ = np.tile(np.interp(POSITIONS, [0, 0.5, 1], [0, 0.2, 1]), (2, 1))
    half = vae.transform(S, alpha=0.5, source="A")
    # The code moved toward the input's own...
    assert np.abs(half - unspaced_half).max() > 1e-3
    # ...but alpha 0.5 keeps none of the input's detail, and reads nothing
    # of its latent: the decoder alone renders it, from either instrument.
    no_detail = copy.deepcopy(vae).set_params(keep_detail=0.0)
    np.testing.assert_allclose(no_detail.transform(S, alpha=0.5, source="A"), half,
                               atol=1e-6)
    with torch.no_grad():
        for p in no_detail.encoder_.parameters():
            p.add_(0.5 * torch.randn_like(p))
    np.testing.assert_allclose(no_detail.transform(S, alpha=0.5, source="A"), half,
                               atol=1e-6)
    # The ends do not move.
    for alpha, before in zip((0.0, 1.0), ends):
        np.testing.assert_array_equal(vae.transform(S, alpha=alpha, source="A"), before)


def test_latent_dropout_fades_the_latent_away_from_the_source(two_instruments):
    a, b = two_instruments
    vae = TimbreVAE(latent_dropout=0.5, **FAST).fit(a, b)
    S = SpectrogramTransformer().fit(a, b).transform(a[0])
    at_source = vae.transform(S, alpha=0.0, source="A")
    far = {alpha: vae.transform(S, alpha=alpha, source="A") for alpha in (0.5, 1.0)}
    near = vae.transform(S, alpha=0.25, source="A")
    # Another encoder: what the latent reads changes, and only renders
    # within half a step of the source's own timbre may hear it.
    with torch.no_grad():
        for p in vae.encoder_.parameters():
            p.add_(0.5 * torch.randn_like(p))
    for alpha, before in far.items():
        np.testing.assert_array_equal(
            vae.transform(S, alpha=alpha, source="A"), before)
    assert np.abs(vae.transform(S, alpha=0.25, source="A") - near).max() > 1e-3
    # At its own timbre the input comes back exactly whatever the latent.
    np.testing.assert_allclose(vae.transform(S, alpha=0.0, source="A"), at_source,
                               atol=1e-4)


def test_a_latent_never_shown_in_training_is_never_read(two_instruments):
    a, b = two_instruments
    vae = TimbreVAE(latent_dropout=1.0, keep_detail=0.0, **FAST).fit(a, b)
    S = SpectrogramTransformer().fit(a, b).transform(a[0])
    before = {alpha: vae.transform(S, alpha=alpha, source="A")
              for alpha in (0.0, 0.25, 1.0)}
    with torch.no_grad():
        for p in vae.encoder_.parameters():
            p.add_(0.5 * torch.randn_like(p))
    # Not even at the input's own timbre: the decoder never learnt to read it.
    for alpha, rendered in before.items():
        np.testing.assert_array_equal(vae.transform(S, alpha=alpha, source="A"),
                                      rendered)


def test_without_latent_dropout_the_latent_is_always_read(two_instruments):
    a, b = two_instruments
    vae = TimbreVAE(latent_dropout=0.0, **FAST).fit(a, b)
    S = SpectrogramTransformer().fit(a, b).transform(a[0])
    before = vae.transform(S, alpha=1.0, source="A")
    with torch.no_grad():
        for p in vae.encoder_.parameters():
            p.add_(0.5 * torch.randn_like(p))
    assert np.abs(vae.transform(S, alpha=1.0, source="A") - before).max() > 1e-3


def test_conversion_level_is_the_other_instruments_at_the_same_dynamic():
    from sktimbre._vae_loudness import LEVEL_SLACK, conversion_level_error

    # A plays 0.2 louder (in loudness units) than B at every pitch, with
    # the same spread: B's conversion of A is 0.2 units (6 dB) quieter.
    stats = torch.tensor([[0.2, 0.0, 0.1], [0.0, 0.0, 0.1]])
    T = 20
    features = torch.zeros(2, 4, T)
    features[:, 1] = 0.9  # sounding
    features[:, 2] = torch.tensor([[0.25], [0.05]])  # each mezzo-forte+
    domain = torch.tensor([0.0, 1.0])
    own = torch.full((2, T), 3.0)
    shift = 0.2 * 30 * np.log(10) / 20
    exact = own + torch.tensor([[-shift], [shift]])
    assert float(conversion_level_error(own, exact, features, stats, domain)) == (
        pytest.approx(0.0, abs=1e-6))
    off = exact + LEVEL_SLACK + 0.5
    assert float(conversion_level_error(own, off, features, stats, domain)) == (
        pytest.approx(0.5, abs=1e-5))
    # Silent frames do not count.
    features[:, 1] = 0.0
    assert float(conversion_level_error(own, off, features, stats, domain)) == 0.0


@pytest.mark.parametrize("causal", [False, True])
def test_level_terms_hold_renders_to_the_input_level(two_instruments, causal):
    # Renders held to the level of another render (the reconstruction) could
    # all grow louder together at no cost: the causal fit on timgm6mb ran
    # about 90 dB above its input that way. Held to the crops' own level, a
    # shift of every render costs, and its gradient undoes it.
    from sktimbre._training import fixed_crops

    a, b = two_instruments
    vae = TimbreVAE(causal=causal, **FAST).fit(a, b)
    vae._set_train_mode(False)
    clips = [vae._clip_data(vae.spectrogram_.transform(c), d)
             for d, group in enumerate((a, b)) for c in group]
    batch = fixed_crops(clips, 64)[0]
    bias = vae.decoder_.out.bias
    start = bias.detach().clone()

    def level_term(shift):
        """The level terms with every control ``shift`` nepers up."""
        with torch.no_grad():
            bias.copy_(start + shift)
        torch.manual_seed(0)
        mean, _ = vae._encode(batch.spec, batch.domain)
        converted = vae._full_conversions(mean, batch)
        return vae._judged_alpha_loss(mean, batch, converted)[1]

    held = float(level_term(0.0))
    quieter = float(level_term(-6.0))
    louder = level_term(6.0)
    (gradient,) = torch.autograd.grad(louder, bias)
    assert float(louder) > held + 3.0
    assert quieter > held + 3.0
    assert float(gradient.sum()) > 0


def test_a_control_above_the_synthesisers_cap_still_learns():
    # A plain clamp gives a control past it no gradient, so the losses could
    # never bring back one that a bad step had pushed there.
    from sktimbre._nn import HarmonicRenderer

    renderer = HarmonicRenderer(22050, 1024, n_harmonics=3, n_noise_bands=4)
    f0 = torch.full((1, 5), 220.0)
    harmonic = torch.full((1, 3, 5), 20.0, requires_grad=True)
    noise = torch.full((1, 4, 5), 18.0, requires_grad=True)
    magnitude = renderer(f0, harmonic, noise)
    # The value is still capped: three harmonics and a noise floor at most.
    assert float(magnitude.detach().max()) <= 4 * np.exp(15.0)
    torch.log(magnitude).sum().backward()
    assert (harmonic.grad > 0).all()
    assert (noise.grad > 0).all()


def test_a_fit_whose_conversions_ran_away_warns(tiny_vae, two_instruments):
    from sktimbre._training import fixed_crops
    from sktimbre._vae_diagnostics import warn_if_conversions_ran_away

    clips = [tiny_vae._clip_data(np.asarray(tiny_vae.spectrogram_.transform(x)),
                                 float(domain))
             for domain, side in enumerate(two_instruments) for x in side]
    crops = fixed_crops(clips, 32)
    runaway = copy.deepcopy(tiny_vae)
    warn_if_conversions_ran_away(runaway, crops, n_steps=1000)
    sane = runaway.history_["conversion_level_error_db"]
    with torch.no_grad():
        # e^10 in amplitude: 87 dB louder than what the fit learnt.
        runaway.decoder_.out.bias += 10.0
    with pytest.warns(UserWarning, match="far too loud or too quiet"):
        warn_if_conversions_ran_away(runaway, crops, n_steps=1000)
    assert runaway.history_["conversion_level_error_db"] > max(sane + 60.0, 20.0)
    # Smoke-test fits are too short to be held to it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_conversions_ran_away(runaway, crops, n_steps=10)


def test_measure_fit_encodes_once_and_records_both_measures(tiny_vae,
                                                             two_instruments):
    from sktimbre._training import fixed_crops
    from sktimbre._vae_diagnostics import (
        latent_domain_accuracy,
        measure_fit,
        warn_if_conversions_ran_away,
    )

    vae = copy.deepcopy(tiny_vae)
    clips = [vae._clip_data(np.asarray(vae.spectrogram_.transform(x)), float(domain))
             for domain, side in enumerate(two_instruments) for x in side]
    crops = fixed_crops(clips, 32)
    calls = []
    encode = vae._encode
    vae._encode = lambda *args: calls.append(1) or encode(*args)
    measure_fit(vae, crops, n_steps=1000)
    assert len(calls) == len(crops)
    measured = dict(vae.history_)
    vae._encode = encode
    assert measured["latent_domain_accuracy"] == latent_domain_accuracy(vae, crops)
    warn_if_conversions_ran_away(vae, crops, n_steps=1000)
    assert (vae.history_["conversion_level_error_db"]
            == measured["conversion_level_error_db"])


def test_the_runaway_warning_of_a_fit_points_at_the_callers_fit(two_instruments,
                                                                 monkeypatch):
    # Held to a bound no fit meets, every fit warns: from the caller's line.
    from sktimbre import _vae_diagnostics

    monkeypatch.setattr(_vae_diagnostics, "_MOST_LEVEL_ERROR_DB", -1.0)
    monkeypatch.setattr(_vae_diagnostics, "_LEVEL_JUDGED_AFTER_STEPS", 0)
    with pytest.warns(UserWarning, match="far too loud") as caught:
        TimbreVAE(**FAST).fit(*two_instruments)
    assert {w.filename for w in caught if "far too loud" in str(w.message)} == {
        __file__}


def test_kept_detail_stays_between_the_input_and_the_render(tiny_vae, two_instruments):
    # A reconstruction with next to nothing where the render has something
    # (here: 5 units under it everywhere) makes the input's residual large;
    # added onto the render it used to come out far above both.
    vae = copy.deepcopy(tiny_vae)
    decode = vae._decode

    def own_under_render(z, features, f0, alpha, source=None):
        out = decode(z, features, f0, alpha, source)
        return out - 5.0 if source is None else out

    vae._decode = own_under_render
    alone = copy.deepcopy(vae).set_params(keep_detail=0.0)
    alone._decode = own_under_render
    S = vae.spectrogram_.transform(two_instruments[0][0])
    kept = np.asarray(vae.transform(S, alpha=0.25, source=0))
    render = np.asarray(alone.transform(S, alpha=0.25, source=0))
    S = np.asarray(S)
    assert not np.allclose(kept, render)
    assert (kept <= np.maximum(S, render) + 1e-5).all()
    assert (kept >= np.minimum(S, render) - 1e-5).all()
