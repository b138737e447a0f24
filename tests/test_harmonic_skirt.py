"""TimbreVAE(skirt_bins=...): a learnt skirt around each rendered harmonic."""

import pickle

import numpy as np
import pytest
import torch

from sktimbre import TimbreVAE
from sktimbre._nn import HarmonicRenderer

from .timbre_models import one_torch_thread, short_pair, tiny  # noqa: F401

SR, N_FFT = 22050, 1024


@pytest.fixture(scope="module")
def pair():
    return short_pair()


def _render(renderer):
    f0 = torch.full((1, 3), 40 * SR / N_FFT)  # the fundamental on bin 40
    harmonic = torch.full((1, 2, 3), 2.0)
    noise = torch.full((1, 4, 3), -12.0)
    return renderer(f0, harmonic, noise)


def test_the_skirt_widens_each_harmonic_without_moving_it():
    # Symmetric and 0 at the centre: a harmonic on a bin keeps its peak
    # there, and the bins beside the main lobe rise above the noise floor
    # alike on both sides.
    bare = _render(HarmonicRenderer(SR, N_FFT, 2, 4))[0, :, 0]
    renderer = HarmonicRenderer(SR, N_FFT, 2, 4, skirt_bins=4)
    skirted = _render(renderer)[0, :, 0].detach()
    for peak in (40, 80):
        assert int(skirted[peak - 6:peak + 7].argmax()) == 6
        around = skirted[peak - 4:peak + 5]
        torch.testing.assert_close(around, around.flip(0), rtol=1e-5, atol=0)
        assert (skirted[[peak - 3, peak + 3]] > 100 * bare[[peak - 3, peak + 3]]).all()
    # Far from every harmonic the skirt adds nothing.
    torch.testing.assert_close(skirted[150:], bare[150:])
    # Its levels learn: the loss reaches them.
    _render(renderer).log().sum().backward()
    assert (renderer.skirt.levels.grad != 0).all()
    assert not list(HarmonicRenderer(SR, N_FFT, 2, 4).parameters())


def test_off_by_default_and_learnt_when_asked(pair):
    assert TimbreVAE().skirt_bins == 0
    assert tiny(TimbreVAE).fit(*pair).renderer_.skirt is None
    model = tiny(TimbreVAE, skirt_bins=3).fit(*pair)
    start = HarmonicRenderer(SR, N_FFT, 1, 2, skirt_bins=3).skirt.levels
    assert not torch.equal(model.renderer_.skirt.levels.detach(), start)
    out = model.transform(pair[0][0], alpha=1.0)
    assert out.shape == pair[0][0].shape and np.isfinite(out).all()


def test_a_fit_with_a_skirt_is_reproducible_and_round_trips(pair, tmp_path):
    first = tiny(TimbreVAE, skirt_bins=2).fit(*pair)
    second = tiny(TimbreVAE, skirt_bins=2).fit(*pair)
    converted = first.transform(pair[1][0], alpha=0.0)
    np.testing.assert_array_equal(converted, second.transform(pair[1][0], alpha=0.0))
    loaded = TimbreVAE.load(first.save(tmp_path / "skirt.skt"))
    assert loaded.skirt_bins == 2
    np.testing.assert_array_equal(loaded.transform(pair[1][0], alpha=0.0), converted)


def test_a_negative_skirt_is_refused(pair):
    with pytest.raises(ValueError, match="skirt_bins"):
        TimbreVAE(skirt_bins=-1).fit(*pair)


def test_a_renderer_pickled_before_the_skirt_existed_still_renders():
    renderer = HarmonicRenderer(SR, N_FFT, 2, 4)
    state = renderer.__getstate__()
    state["_modules"] = {k: v for k, v in state["_modules"].items() if k != "skirt"}
    older = HarmonicRenderer.__new__(HarmonicRenderer)
    older.__setstate__(state)
    older = pickle.loads(pickle.dumps(older))
    assert older.skirt is None
    torch.testing.assert_close(_render(older), _render(renderer))
