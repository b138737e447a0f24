"""A fitted model used from several threads or joblib workers at once gives
exactly what serial calls give."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from joblib import Parallel, delayed

from sktimbre import convert

from .timbre_models import (  # noqa: F401
    TIMBRE_MODELS,
    one_torch_thread,
    short_pair,
    tiny_pipeline,
)


@pytest.fixture(scope="module")
def fitted():
    a, b = short_pair()
    pipelines = {cls.__name__: tiny_pipeline(cls).fit(a, b) for cls in TIMBRE_MODELS}
    # Clips of different lengths, so a mix-up between calls shows.
    clips = [np.concatenate([clip] * (1 + i % 3))[: 4000 + 1500 * i]
             for i, clip in enumerate(a + b + a + b)]
    return pipelines, clips


def jobs(pipelines, clips):
    """(what, call, arguments) for each kind of call, over every clip."""
    out = []
    for name, pipe in pipelines.items():
        for i, clip in enumerate(clips):
            alpha = i / (len(clips) - 1)
            out.append((f"convert[{name}]", convert, (pipe, clip, alpha)))
            out.append((f"{name}.transform", _transform, (pipe, clip, alpha)))
    spec = next(iter(pipelines.values()))["spec"]
    out += [("SpectrogramTransformer.transform", _round_trip, (spec, clip))
            for clip in clips]
    return out


def _transform(pipe, clip, alpha):
    model, spec = pipe["model"], pipe["spec"]
    return np.asarray(model.transform(spec.transform(clip), alpha=alpha))


def _round_trip(spec, clip):
    return spec.inverse_transform(spec.transform(clip))


def assert_same(results, serial, calls):
    assert len(results) == len(serial)
    for (what, _, _), got, want in zip(calls, results, serial):
        np.testing.assert_array_equal(got, want, err_msg=what)


def test_four_threads_at_once_give_the_serial_outputs(fitted):
    calls = jobs(*fitted)
    serial = [call(*args) for _, call, args in calls]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: job[1](*job[2]), calls))
    assert_same(results, serial, calls)


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_joblib_workers_give_the_serial_outputs(fitted, backend):
    calls = jobs(*fitted)
    serial = [call(*args) for _, call, args in calls]
    results = Parallel(n_jobs=2, backend=backend)(
        delayed(call)(*args) for _, call, args in calls)
    assert_same(results, serial, calls)
