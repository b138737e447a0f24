"""The timbre models sktimbre exports, tiny settings for each, and small data.

Models are discovered from ``sktimbre.__all__``, so a new one is covered by
every test that parametrises over ``TIMBRE_MODELS``.
"""

import numpy as np
import pytest
import torch

import sktimbre
from sktimbre._base import BaseTimbreModel

from .conftest import harmonic_tone

TIMBRE_MODELS = sorted(
    (
        obj
        for obj in (getattr(sktimbre, name) for name in sktimbre.__all__)
        if isinstance(obj, type) and issubclass(obj, BaseTimbreModel)
    ),
    key=lambda cls: cls.__name__,
)

# Parametrises a test over every timbre model, named by class.
MODELS = pytest.mark.parametrize("cls", TIMBRE_MODELS, ids=lambda c: c.__name__)

# Network sizes that fit in well under a second; unknown models get their
# defaults with one epoch.
_SMALL = {
    # Spacing alpha renders and judges ~150 clips: tests of it ask for it.
    "TimbreVAE": {"hidden": 16, "calibrate_alpha": False},
    "TimbreCycleGAN": {"width": 16, "discriminator_width": 8,
                       "n_residual_blocks": 1},
}


def tiny(cls, **params):
    """An unfitted ``cls`` small and quick enough for a unit test."""
    settings = {"max_epochs": 1, "early_stopping": False, "random_state": 0,
                # One pass over the few test frames per epoch, not the
                # defaults' fixed step count sized for minutes of audio.
                "steps_per_epoch": None,
                "device": "cpu", **_SMALL.get(cls.__name__, {}), **params}
    valid = cls().get_params()
    return cls(**{k: v for k, v in settings.items() if k in valid})


def tiny_pipeline(cls, **params):
    """An unfitted ``Pipeline`` of a fast spectrogram step and ``tiny(cls)``."""
    from sklearn.pipeline import Pipeline

    from sktimbre import SpectrogramTransformer

    return Pipeline([("spec", SpectrogramTransformer(n_iter=4, device="cpu")),
                     ("model", tiny(cls, **params))])


def short_pair(n_clips=2, seconds=0.5):
    """Unpaired clips of two synthetic timbres, bright (A) and pure (B)."""
    rng = np.random.default_rng(0)
    a = [harmonic_tone(rng.uniform(200, 500), [1, 0.8, 0.6, 0.5, 0.4], seconds,
                       vibrato_cents=20, seed=i) for i in range(n_clips)]
    b = [harmonic_tone(rng.uniform(260, 700), [1, 0.12, 0.04], seconds,
                       seed=10 + i) for i in range(n_clips)]
    return a, b


def weights(model):
    """Copies of every network's weights, by module and parameter name."""
    return {
        name: {k: v.detach().clone() for k, v in getattr(model, name)
               .state_dict().items()}
        for name in model._module_names
    }


def same_weights(one, two):
    return one.keys() == two.keys() and all(
        one[name].keys() == two[name].keys()
        and all(torch.equal(one[name][k], two[name][k]) for k in one[name])
        for name in one
    )


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Run a module's tests with one intra-op thread: exact comparisons do
    not depend on how work was split, and a busy machine is not
    oversubscribed. Autouse in every module that imports it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
