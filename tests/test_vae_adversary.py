"""TimbreVAE(lambda_gan=...): discriminators of full conversions."""

import joblib
import numpy as np
import pytest
import torch

from sktimbre import TimbreVAE
from sktimbre._least_squares_gan import judged_loss
from sktimbre._nn import PatchDiscriminator
from sktimbre._training import fixed_crops

from .timbre_models import one_torch_thread, short_pair, tiny, weights  # noqa: F401


@pytest.fixture(scope="module")
def pair():
    return short_pair()


@pytest.fixture(scope="module")
def adversarial(pair):
    return tiny(TimbreVAE, lambda_gan=0.5).fit(*pair)


def _batch(model, pair):
    clips = [model._clip_data(model.spectrogram_.transform(c), d)
             for d, group in enumerate(pair) for c in group]
    return fixed_crops(clips, 16)[0]


def test_off_by_default_with_no_discriminator_weights(pair):
    assert TimbreVAE().lambda_gan == 0.0
    plain = tiny(TimbreVAE).fit(*pair)
    for name in ("discriminator_a_", "discriminator_b_"):
        assert not list(getattr(plain, name).parameters())
    # The optimiser is the one model files made before the parameter hold.
    assert len(plain.optimizer_.param_groups) == 1
    assert "gan" not in plain.history_


def test_the_discriminators_learn_in_their_own_group(adversarial, pair):
    for name in ("discriminator_a_", "discriminator_b_"):
        assert isinstance(getattr(adversarial, name), PatchDiscriminator)
    groups = adversarial.optimizer_.param_groups
    assert len(groups) == 2 and groups[1]["betas"] == (0.5, 0.999)
    judges = {id(p) for name in ("discriminator_a_", "discriminator_b_")
              for p in getattr(adversarial, name).parameters()}
    assert {id(p) for p in groups[1]["params"]} == judges
    assert not judges & {id(p) for p in groups[0]["params"]}
    gan = adversarial.history_["gan"]
    assert len(gan) == adversarial.n_epochs_ and np.isfinite(gan).all()


def test_a_step_tells_real_from_converted_better_and_moves_only_the_decoder(
        adversarial, pair):
    model = tiny(TimbreVAE, lambda_gan=0.5).fit(*pair)
    model._set_train_mode(True)
    batch = _batch(model, pair)
    with torch.no_grad():
        mean, _ = model._encode(batch.spec, batch.domain)
        converted = model._full_conversions(mean, batch)
    is_b = batch.domain > 0.5

    def told_apart():
        with torch.no_grad():
            return float(judged_loss(model.discriminator_b_, batch.spec[is_b],
                                     converted[~is_b]))

    before = told_apart()
    for _ in range(20):
        model._conversion_adversarial(batch, converted)
    assert told_apart() < before
    # The decoder's loss reaches the decoder, not the discriminators.
    mean, _ = model._encode(batch.spec, batch.domain)
    model.optimizer_.zero_grad(set_to_none=True)
    fooled = model._conversion_adversarial(batch, model._full_conversions(mean, batch))
    model.optimizer_.zero_grad(set_to_none=True)
    fooled.backward()
    assert all(p.grad is None for p in model.discriminator_a_.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.decoder_.parameters())


def test_reproducible_and_round_trips(adversarial, pair, tmp_path):
    again = tiny(TimbreVAE, lambda_gan=0.5).fit(*pair)
    for name, state in weights(adversarial).items():
        for key, value in state.items():
            torch.testing.assert_close(weights(again)[name][key], value,
                                       rtol=0, atol=0)
    converted = adversarial.transform(pair[0][0], alpha=1.0)
    loaded = TimbreVAE.load(adversarial.save(tmp_path / "gan.skt"))
    assert loaded.lambda_gan == 0.5
    np.testing.assert_array_equal(loaded.transform(pair[0][0], alpha=1.0), converted)
    joblib.dump(adversarial, tmp_path / "gan.joblib")
    unpickled = joblib.load(tmp_path / "gan.joblib")
    np.testing.assert_array_equal(unpickled.transform(pair[0][0], alpha=1.0), converted)


def test_a_warm_start_continues_the_discriminators(pair, tmp_path):
    model = tiny(TimbreVAE, lambda_gan=0.5).fit(*pair)
    loaded = TimbreVAE.load(model.save(tmp_path / "gan.skt"))
    before = {k: v.clone() for k, v in loaded.discriminator_b_.state_dict().items()}
    loaded.set_params(warm_start=True).fit(*pair)
    assert loaded.n_epochs_ == 2
    assert any(not torch.equal(before[k], v)
               for k, v in loaded.discriminator_b_.state_dict().items())


def test_no_discriminators_to_continue_is_a_clear_error(pair):
    model = tiny(TimbreVAE).fit(*pair)
    with pytest.raises(ValueError, match="lambda_gan=0.*warm_start=False"):
        model.set_params(warm_start=True, lambda_gan=0.5).fit(*pair)


def test_a_negative_weight_is_refused(pair):
    with pytest.raises(ValueError, match="lambda_gan"):
        TimbreVAE(lambda_gan=-0.1).fit(*pair)
