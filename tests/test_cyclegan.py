import copy

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from sktimbre import Spectrogram, SpectrogramTransformer, TimbreCycleGAN, convert
from sktimbre._cyclegan_losses import _LOUDNESS_SLACK, _loudness_moved
from sktimbre._harmonic_comb import clip_comb, harmonic_comb
from sktimbre._nn import GatedResidualGenerator, PatchDiscriminator
from sktimbre._training_callbacks import moving_average
from sktimbre.callbacks import Callback

from .conftest import harmonic_tone, median_cents_moved

# Judging alpha's spacing renders some hundred clips: only tiny_gan does it.
FAST = dict(width=24, n_residual_blocks=2, discriminator_width=16, max_epochs=2,
            early_stopping=False, calibrate_alpha=False, random_state=0,
            # tests/test_cuda.py runs the model on a GPU
            steps_per_epoch=None, device="cpu")


@pytest.fixture(scope="module")
def tiny_gan(two_instruments):
    a, b = two_instruments
    return TimbreCycleGAN(**{**FAST, "max_epochs": 4, "lr": 2e-3,
                             "calibrate_alpha": True}).fit(a, b)


def _copy_fitted(model, **params):
    twin = clone(model).set_params(**params)
    twin.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    return twin


def test_pipeline_as_users_write_it(two_instruments, tmp_path):
    a, b = two_instruments
    pipe = Pipeline([("spec", SpectrogramTransformer()),
                     ("gan", TimbreCycleGAN(**FAST))]).fit(a, b)
    S = pipe["gan"].transform(pipe["spec"].transform(a[0]), alpha=0.5)
    assert isinstance(S, Spectrogram) and S.timbre == (0.0, 0.5)
    hybrid = pipe["spec"].inverse_transform(S)
    assert hybrid.shape == a[0].shape and np.isfinite(hybrid).all()
    joblib.dump(pipe, tmp_path / "gan.joblib")
    loaded = joblib.load(tmp_path / "gan.joblib")
    assert np.allclose(convert(loaded, a[0], alpha=0.5), hybrid, atol=1e-5)


def test_metadata_routing_passes_alpha(two_instruments):
    a, b = two_instruments
    with sklearn.config_context(enable_metadata_routing=True):
        gan = TimbreCycleGAN(**FAST).set_transform_request(alpha=True)
        pipe = Pipeline([("spec", SpectrogramTransformer()), ("gan", gan)]).fit(a, b)
        assert pipe.transform(a[0], alpha=0.25).timbre[1] == 0.25


def test_alpha_walks_the_line_from_input_to_translation(tiny_gan, two_instruments):
    a, b = two_instruments
    S = tiny_gan.spectrogram_.transform(a[0])
    ends = [np.asarray(tiny_gan.transform(S, alpha=x)) for x in (0.0, 1.0)]
    assert np.array_equal(ends[0], S)  # its own instrument: unchanged
    assert not np.allclose(ends[1], S)  # trained: the translation moved it
    for alpha in (0.25, 0.5, 0.9):
        between = tiny_gan.transform(S, alpha=alpha)
        t = position(tiny_gan, alpha, 0)
        line = (1 - t) * ends[0] + t * ends[1]
        assert np.allclose(between, line, atol=1e-5)
    # A piece of B walks the other generator's line, from F(b) (position 0).
    T = tiny_gan.spectrogram_.transform(b[0])
    with torch.no_grad():
        full = tiny_gan.generator_ba_(*prepared(tiny_gan, T, 1))[0]
    assert np.allclose(tiny_gan.transform(T, alpha=0.0), full.numpy(), atol=1e-5)
    t = position(tiny_gan, 0.6, 1)
    assert np.allclose(tiny_gan.transform(T, alpha=0.6),
                       T + (1 - t) * (full.numpy() - T), atol=1e-5)


def prepared(gan, spec, domain):
    """A spectrogram as a batch of one and its harmonic comb (or None): what
    a generator reads."""
    clip = gan._clip_data(np.asarray(spec), float(domain))
    return clip.spec[None], clip_comb(gan, clip, clip.spec.shape[-1])


def position(model, alpha, line=0):
    return np.interp(alpha, np.linspace(0, 1, 11), model.alpha_curve_[line])


def test_even_steps_follow_the_judgement():
    from sktimbre._alpha_spacing import even_steps

    grid = np.linspace(0, 1, 11)
    # A judgement that turns over early: half its rise by position 0.1.
    early = 0.1 + 0.8 * (1 - np.exp(-7 * grid)) / (1 - np.exp(-7))
    curve = even_steps(early)
    assert curve[0] == 0 and curve[-1] == pytest.approx(1)
    assert np.all(np.diff(curve) > 0)
    heard = np.interp(curve, grid, early)
    assert np.allclose((heard - early[0]) / (early[-1] - early[0]), grid, atol=0.02)
    # A judge that hears no change, or a falling one, leaves alpha linear.
    assert np.array_equal(even_steps(np.full(11, 0.5)), grid)
    assert np.array_equal(even_steps(grid[::-1]), grid)


def test_the_judge_hears_a_line_between_two_timbres_turn_over(two_instruments):
    from sktimbre._alpha_spacing import judge_lines
    from sktimbre._spacing_judge import spacing_judge

    a, b = two_instruments
    transformer = SpectrogramTransformer().fit(a, b)
    real = [[np.asarray(s) for s in transformer.transform(clips)] for clips in (a, b)]
    # Lines from real A to real B pieces of the same length: the judge
    # hears A at one end, B at the other and a turn in between.
    n = min(s.shape[1] for s in real[0] + real[1])
    lines = [[(x[:, :n], y[:, :n]) for x, y in zip(real[0][:3], real[1][:3])]] * 2
    judged = judge_lines(lines, transformer, real=real,
                         judge=spacing_judge(True, transformer.sr))
    assert judged.shape == (2, 11)
    assert judged[0, 0] < 0.2 and judged[0, -1] > 0.8
    assert np.all(np.diff(np.maximum.accumulate(judged[0])) >= 0)
    # Too few pieces long enough to render and judge: nothing is judged.
    assert judge_lines(lines, transformer, real=[real[0][:1], real[1]],
                       judge=spacing_judge(True, transformer.sr)) is None


def test_alpha_is_spaced_for_the_judge_of_each_line(tiny_gan, two_instruments):
    from sktimbre._alpha_spacing import even_steps

    # The judge heard the lines of both generators, and each curve is made
    # from its own line's judgement.
    judged = tiny_gan.alpha_judgement_
    assert judged.shape == (2, 11) and np.isfinite(judged).all()
    assert ((judged >= 0) & (judged <= 1)).all()
    curve = tiny_gan.alpha_curve_
    assert curve.shape == (2, 11)
    for line in (0, 1):
        assert np.allclose(curve[line], even_steps(judged[line]))
    a, b = two_instruments
    linear = _copy_fitted(tiny_gan, calibrate_alpha=False)
    linear.alpha_curve_ = np.tile(np.linspace(0, 1, 11), (2, 1))
    S = tiny_gan.spectrogram_.transform(a[0])
    assert np.allclose(tiny_gan.transform(S, alpha=0.3),
                       linear.transform(S, alpha=position(tiny_gan, 0.3, 0)),
                       atol=1e-5)
    T = tiny_gan.spectrogram_.transform(b[0])
    assert np.allclose(tiny_gan.transform(T, alpha=0.3),
                       linear.transform(T, alpha=position(tiny_gan, 0.3, 1)),
                       atol=1e-5)


def test_alpha_is_linear_without_calibration(two_instruments):
    a, b = two_instruments
    gan = TimbreCycleGAN(**{**FAST, "max_epochs": 1, "calibrate_alpha": False})
    gan.fit(a, b)
    assert np.array_equal(gan.alpha_curve_, np.tile(np.linspace(0, 1, 11), (2, 1)))
    assert np.isnan(gan.alpha_judgement_).all()
    # Pieces too short to judge leave alpha linear too.
    short = TimbreCycleGAN(**{**FAST, "max_epochs": 1, "calibrate_alpha": True}).fit(
        [c[:4000] for c in a], [c[:4000] for c in b])
    assert np.array_equal(short.alpha_curve_, gan.alpha_curve_)


def test_inverse_transform_is_the_other_generator(tiny_gan, two_instruments):
    a, _ = two_instruments
    S = tiny_gan.spectrogram_.transform(a[0])
    there = tiny_gan.transform(S, alpha=1.0)
    back = tiny_gan.inverse_transform(there)
    assert back.timbre == (0.0, 0.0)
    with torch.no_grad():
        moved = tiny_gan.generator_ab_(*prepared(tiny_gan, S, 0))[0].numpy()
        # The way back reads the harmonics of the translation it is given.
        cycled = tiny_gan.generator_ba_(*prepared(tiny_gan, moved, 1))[0].numpy()
    assert np.allclose(back, cycled, atol=1e-5)


def test_pitch_is_kept(tiny_gan, two_instruments):
    a, _ = two_instruments
    # The learnt change alone keeps every piece's pitch...
    learnt_only = copy.deepcopy(tiny_gan)
    for generator in (learnt_only.generator_ab_, learnt_only.generator_ba_):
        generator.prior.zero_()
    for clip in a:
        assert median_cents_moved(learnt_only, clip, alpha=1.0) < 20
    # ... and so does the whole translation, fixed filter and all (a[1],
    # the hard case, below).
    for clip in a:
        assert median_cents_moved(tiny_gan, clip, alpha=1.0) < 20


def test_a_filter_fitted_on_a_few_steady_notes_keeps_every_pitch(two_instruments):
    a, b = two_instruments
    # A fixed filter fitted on six steady notes per instrument is a filter
    # for those six notes: on a[1] it takes some 10 dB off the fundamental
    # and adds 19 dB to the second harmonic, whose pitch then reads an
    # octave up. Generators that draw the input's harmonics put the
    # fundamental back; without them it stays an octave up.
    params = {**FAST, "max_epochs": 4, "lr": 2e-3}
    drawing = TimbreCycleGAN(**params).fit(a, b)
    assert max(median_cents_moved(drawing, clip, alpha=1.0) for clip in a) < 20
    scaling = TimbreCycleGAN(**params, draw_harmonics=False).fit(a, b)
    assert median_cents_moved(scaling, a[1], alpha=1.0) > 600


def test_discriminators_learn_from_their_own_step(two_instruments):
    a, b = two_instruments
    # No fixed filter: its prior is read from the training clips, which the
    # fresh networks below are built without.
    both = {**FAST, "second_adversarial": True, "match_eq": False}
    gan = TimbreCycleGAN(**{**both, "max_epochs": 1})
    gan.fit(a, b)
    fresh = TimbreCycleGAN(**both)
    fresh._validate_params()
    torch.manual_seed(gan._torch_seed_)
    # Same seed, same initial weights: compare to see that both sides moved.
    fresh.spectrogram_ = gan.spectrogram_
    fresh.device_ = torch.device("cpu")
    fresh._build_networks(None)
    for name in ("generator_ab_", "discriminator_b_", "discriminator_a2_",
                 "domain_classifier_"):
        before = torch.nn.utils.parameters_to_vector(getattr(fresh, name).parameters())
        after = torch.nn.utils.parameters_to_vector(getattr(gan, name).parameters())
        assert not torch.allclose(before, after), name
    generator_params = {id(p) for g in gan.generator_optimizer_.param_groups
                        for p in g["params"]}
    assert not generator_params & {id(p) for p in gan.discriminator_b_.parameters()}


def test_history_has_each_loss_and_last_weights_are_kept(tiny_gan):
    h = tiny_gan.history_
    assert tiny_gan.n_epochs_ == len(h["train_loss"]) == 4
    for key in ("adversarial", "cycle", "identity", "pitch", "loudness",
                "second_adversarial", "discriminator", "domain"):
        assert len(h[key]) == 4 and np.isfinite(h[key]).all(), key
    # Adversarial losses do not rank epochs, so the last epoch's weights stay.
    assert tiny_gan.best_epoch_ == tiny_gan.n_epochs_


def test_with_and_without_second_adversarial_step(two_instruments):
    a, b = two_instruments
    gan = TimbreCycleGAN(second_adversarial=True, **FAST).fit(a, b)
    assert len(gan.history_["second_adversarial"]) == FAST["max_epochs"]
    assert isinstance(gan.discriminator_a2_, PatchDiscriminator)
    gan = TimbreCycleGAN(second_adversarial=False, **FAST).fit(a, b)
    assert "second_adversarial" not in gan.history_
    assert isinstance(gan.discriminator_a2_, torch.nn.Identity)
    assert gan.transform(a[0], alpha=1.0).shape == a[0].shape


def test_fit_is_reproducible_and_labels_form_matches(two_instruments):
    a, b = two_instruments
    one = TimbreCycleGAN(**FAST).fit(a, b).transform(a[1], alpha=0.7)
    two = clone(TimbreCycleGAN(**FAST)).fit(a, b).transform(a[1], alpha=0.7)
    assert np.array_equal(one, two)
    labelled = TimbreCycleGAN(**FAST).fit(a + b, ["a"] * len(a) + ["b"] * len(b))
    assert list(labelled.classes_) == ["a", "b"]
    assert labelled.transform(a[1], alpha=0.7).shape == one.shape


def test_chunked_conversion_has_no_seams(tiny_gan):
    long_clip = harmonic_tone(330.0, [1, 0.5, 0.3], seconds=4.0, vibrato_cents=20)
    S = tiny_gan.spectrogram_.transform(long_clip)
    whole = tiny_gan.transform(S, alpha=0.5)
    chunked = _copy_fitted(tiny_gan, chunk_frames=64)
    assert np.allclose(chunked.transform(S, alpha=0.5), whole, atol=1e-4)
    assert tiny_gan.generator_ab_.receptive_field < 2 * 48


def test_warm_start_continues(two_instruments):
    a, b = two_instruments
    gan = TimbreCycleGAN(warm_start=True, **FAST).fit(a, b)
    gan.fit(a, b)
    assert gan.n_epochs_ == 4 and gan.history_["epoch"] == [1, 2, 3, 4]


def test_loudness_loss_measures_a_change_of_level(tiny_gan, two_instruments):
    a, _ = two_instruments
    transformer = tiny_gan.spectrogram_
    S = torch.as_tensor(np.asarray(transformer.transform(a[0])))[None]
    log_magnitude = transformer.denormalise(S)
    assert float(_loudness_moved(log_magnitude, log_magnitude)) == 0.0
    # Every row one neper louder (a gain of e): the frames' loudness moves by
    # 1, which costs what lies beyond the slack; half a neper is free.
    for nepers, cost in ((1.0, 1.0 - _LOUDNESS_SLACK), (-1.0, 1.0 - _LOUDNESS_SLACK),
                         (0.5, 0.0)):
        cost_paid = float(_loudness_moved(log_magnitude, log_magnitude + nepers))
        assert cost_paid == pytest.approx(cost, abs=1e-4)


def test_parameters_are_validated(two_instruments):
    a, b = two_instruments
    with pytest.raises(ValueError, match="lambda_cycle"):
        TimbreCycleGAN(lambda_cycle=-1).fit(a, b)
    with pytest.raises(ValueError, match="width"):
        TimbreCycleGAN(width=0).fit(a, b)
    with pytest.raises(ValueError, match="lambda_loudness"):
        TimbreCycleGAN(lambda_loudness=-0.5).fit(a, b)


def test_harmonic_contrast_falls_when_troughs_fill(two_instruments):
    from sktimbre._cyclegan_losses import _harmonic_contrast

    a, _ = two_instruments
    spec = SpectrogramTransformer(device="cpu").fit(a)
    clean = harmonic_tone(440.0, [1, 0.5, 0.3, 0.2], seconds=0.5)
    noisy = clean + 0.05 * np.random.default_rng(0).standard_normal(len(clean))
    centres = torch.as_tensor(spec.frequencies_, dtype=torch.float32)
    f0 = torch.full((1, 10), 440.0)
    contrast = []
    for clip in (clean, noisy.astype(np.float32)):
        log_magnitude = torch.log(spec.magnitude(spec.transform(clip)) + 1e-5)
        contrast.append(_harmonic_contrast(log_magnitude[None, :, 5:15], f0, centres))
    assert (contrast[0] > contrast[1] + 1).all()
    # At the wrong f0 (a fifth away) the clean tone's contrast collapses.
    log_magnitude = torch.log(spec.magnitude(spec.transform(clean)) + 1e-5)
    wrong = _harmonic_contrast(log_magnitude[None, :, 5:15], f0 * 1.5, centres)
    assert (contrast[0] > wrong + 1).all()


def test_learning_rate_decays_over_the_last_epochs_of_each_fit(two_instruments):
    a, b = two_instruments
    seen = []

    class Recording(Callback):
        def on_epoch_begin(self, model, loop):
            seen.append([g["lr"] for o in model._optimizers() for g in o.param_groups])

    gan = TimbreCycleGAN(**{**FAST, "max_epochs": 4, "lr": 1e-3, "lr_decay_epochs": 2,
                            "callbacks": [Recording()]})
    gan.fit(a, b)
    assert np.allclose(seen, [[1e-3] * 2, [1e-3] * 2, [1e-3] * 2, [5e-4] * 2])
    # A warm fit decays over its own epochs again, from lr.
    seen.clear()
    gan.set_params(warm_start=True, max_epochs=2).fit(a, b)
    assert np.allclose(seen, [[1e-3] * 2, [5e-4] * 2])
    # Without decay, a warm fit trains at lr again, not where the decay ended.
    seen.clear()
    gan.set_params(lr_decay_epochs=0).fit(a, b)
    assert np.allclose(seen, [[1e-3] * 2, [1e-3] * 2])
    seen.clear()
    TimbreCycleGAN(**FAST, lr=1e-3, callbacks=[Recording()]).fit(a, b)
    assert np.allclose(seen, [[1e-3] * 2, [1e-3] * 2])


def test_generator_change_is_a_gain_and_an_offset_per_row():
    torch.manual_seed(0)
    generator = GatedResidualGenerator(n_freq=6, width=8, n_residual_blocks=1)
    spec = torch.randn(2, 6, 10)
    # It starts as the identity.
    assert torch.equal(generator(spec), spec)
    # A gain of -0.5 in every row halves each row's distance from its mean
    # level (0 in normalised units) whatever the input, peaks and troughs alike.
    with torch.no_grad():
        generator.out.bias[:6] = -0.5
        generator.out.bias[6:] = 0.25
    assert torch.allclose(generator(spec), 0.5 * spec + 0.25)
    assert torch.allclose(generator.change(spec), -0.5 * spec + 0.25)


def test_generators_kept_are_the_moving_average_of_their_weights(two_instruments):
    a, b = two_instruments
    last = {}

    class Recording(Callback):
        # Called after the model's own callbacks have ended training, the
        # average among them: record the last step's weights before that.
        def on_epoch_end(self, model, loop):
            for name in ("generator_ab_", "discriminator_b_"):
                last[name] = [p.detach().clone()
                              for p in getattr(model, name).parameters()]

    averaged = TimbreCycleGAN(**FAST, callbacks=[Recording()]).fit(a, b)
    # The kept generator differs from the last step's; the judges do not.
    kept = list(averaged.generator_ab_.parameters())
    assert not all(torch.equal(k, v) for k, v in zip(kept, last["generator_ab_"]))
    assert all(torch.equal(k, v) for k, v in
               zip(averaged.discriminator_b_.parameters(), last["discriminator_b_"]))
    # No averaging: the last step's weights, and the same training otherwise.
    plain = TimbreCycleGAN(**FAST, ema_decay=0.0, callbacks=[Recording()]).fit(a, b)
    assert all(torch.equal(k, v) for k, v in
               zip(plain.generator_ab_.parameters(), last["generator_ab_"]))
    assert plain.history_["cycle"] == averaged.history_["cycle"]
    # The average is fitted state a warm fit goes on with, not a live module.
    assert set(averaged._average_state_) == {"generator_ab_", "generator_ba_"}
    assert plain._average_state_ is None


def test_young_moving_average_forgets_faster():
    average, value = torch.zeros(3), torch.ones(3)
    # After one step averaged, the new value has weight 0.9; later 1 - decay.
    assert torch.allclose(moving_average(0.99, average, value, torch.tensor(1.0)),
                          torch.full((3,), 0.9))
    assert torch.allclose(moving_average(0.99, average, value, torch.tensor(5000.0)),
                          torch.full((3,), 0.01))


def test_a_fit_that_learns_nothing_warns_with_the_change_it_made(two_instruments):
    import warnings

    a, b = two_instruments
    still = dict(FAST, width=8, n_residual_blocks=1, discriminator_width=8,
                 crop_frames=16, batch_size=2, max_epochs=1, steps_per_epoch=100,
                 lr=1e-9)
    with pytest.warns(UserWarning, match=r"learnt barely any change.* 0\.000 dB from "
                      r"A to B and 0\.000 dB from B to A.*change_db_.*about the "
                      r"fixed match-EQ filter.*max_epochs") as caught:
        gan = TimbreCycleGAN(**still).fit(a, b)
    with pytest.warns(UserWarning, match=r"returns about its input at every alpha"):
        TimbreCycleGAN(**still, match_eq=False).fit(a, b)
    # The warning points at the caller's fit.
    assert [w.filename for w in caught if "barely" in str(w.message)] == [__file__]
    assert gan.change_db_.shape == (2,) and (gan.change_db_ < 1e-3).all()
    # The figure is the mean absolute change of a full translation, in dB.
    scale = gan.spectrogram_.scale_[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a short fit (a smoke test) is not judged
        gan = TimbreCycleGAN(**FAST).fit(a, b)
    with torch.no_grad():
        for domain, (clips, generator) in enumerate(
                ((a, gan.generator_ab_), (b, gan.generator_ba_))):
            # The change beyond the prior, which is there before training.
            prior = generator.prior[:, None].numpy()
            moved = [np.abs((generator.change(*prepared(
                gan, gan.spectrogram_.transform(clip), domain))[0].numpy() - prior)
                * scale) for clip in clips]
            expected = 20 / np.log(10) * np.concatenate(moved, axis=1).mean()
            assert gan.change_db_[domain] == pytest.approx(expected, rel=1e-3)


def test_translations_start_from_match_eq_and_learn_beyond_it(two_instruments,
                                                              tmp_path):
    a, b = two_instruments
    untrained = dict(FAST, max_epochs=1, steps_per_epoch=1, lr=1e-12)
    gan = TimbreCycleGAN(**untrained).fit(a, b)
    transformer = gan.spectrogram_
    prior = gan.generator_ab_.prior.numpy()
    # The prior is the median normalised log magnitude of B's sounding
    # frames minus A's, and the other generator's is its negative.
    specs = [[np.asarray(transformer.transform(clip)) for clip in clips]
             for clips in (a, b)]

    def sounding_median(group):
        frames = []
        for spec in group:
            energy = np.exp(spec * transformer.scale_[:, None]
                            + transformer.mean_[:, None]).sum(0)
            frames.append(spec[:, energy > 0.01 * energy.max()])
        # torch's median: the lower of the two middle values.
        frames = np.sort(np.concatenate(frames, axis=1), axis=1)
        return frames[:, (frames.shape[1] - 1) // 2]

    assert np.allclose(prior, sounding_median(specs[1]) - sounding_median(specs[0]),
                       atol=1e-4)
    assert np.array_equal(gan.generator_ba_.prior.numpy(), -prior)
    assert np.abs(prior).max() > 0.1  # the two instruments differ
    # Untrained, a full translation is the input plus the prior: a fixed
    # filter, the same for every frame, and undone by the other generator.
    S, comb = prepared(gan, specs[0][0], 0)
    with torch.no_grad():
        moved = gan.generator_ab_(S, comb)
        assert torch.allclose(moved, S + gan.generator_ab_.prior[:, None], atol=1e-5)
        assert torch.allclose(gan.generator_ba_(moved, comb), S, atol=1e-4)
    # The learnt change is what change_db_ measures: none yet.
    assert gan.change_db_.max() < 1e-3
    # The prior is state: a saved model file and a joblib copy keep it.
    gan.save(tmp_path / "gan.skt")
    joblib.dump(gan, tmp_path / "gan.joblib")
    for loaded in (TimbreCycleGAN.load(tmp_path / "gan.skt"),
                   joblib.load(tmp_path / "gan.joblib")):
        assert torch.equal(loaded.generator_ab_.prior, gan.generator_ab_.prior)
        assert torch.equal(loaded.generator_ba_.prior, gan.generator_ba_.prior)
    # Without match_eq both generators start at the identity.
    plain = TimbreCycleGAN(**untrained, match_eq=False).fit(a, b)
    assert not plain.generator_ab_.prior.any() and not plain.generator_ba_.prior.any()
    with torch.no_grad():
        assert torch.allclose(plain.generator_ab_(S, comb), S, atol=1e-5)


def test_the_harmonic_comb_marks_the_input_harmonics_of_pitched_frames():
    frequencies = np.fft.rfftfreq(1024, 1 / 22050)
    f0 = torch.tensor([[110.0, 110.0, 0.0]])
    periodicity = torch.tensor([[0.9, 0.01, 0.9]])
    comb = harmonic_comb(f0, periodicity, frequencies)
    assert comb.shape == (1, len(frequencies), 3)
    peaks = [int(np.argmin(np.abs(frequencies - k * 110.0))) for k in (1, 2, 5, 40)]
    assert (comb[0, peaks, 0] > 0.7).all()  # the nearest bin to each harmonic
    # Half way between harmonics, below the fundamental, past the last
    # harmonic, and in frames with no pitch, nothing is drawn.
    between = int(np.argmin(np.abs(frequencies - 2.5 * 110.0)))
    assert comb[0, between, 0] < 1e-3
    assert comb[0, frequencies < 50, 0].max() == 0
    assert comb[0, frequencies > 60.5 * 110, 0].max() == 0
    assert comb[0, :, 1:].max() == 0  # unpitched, and no f0


def test_a_generator_that_draws_harmonics_asks_for_the_comb():
    generator = GatedResidualGenerator(8, 4, 1, draws_harmonics=True)
    spec = torch.randn(1, 8, 5)
    # Untrained it is the identity, comb or not...
    assert torch.equal(generator(spec, torch.rand(1, 8, 5)), spec)
    # ... but a call without the comb is an error, not a silent guess.
    with pytest.raises(ValueError, match="harmonic comb"):
        generator(spec)
    with pytest.raises(ValueError, match="harmonic comb"):
        generator(spec, torch.rand(1, 8, 4))
