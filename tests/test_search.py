"""Model selection: searches over spectrogram and latent settings with the
audio scorers, both data forms, persistence, parallel fits and a time budget."""

import threading

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    StratifiedKFold,
)
from sklearn.pipeline import Pipeline

from sktimbre import SpectrogramTransformer, TimbreVAE, convert
from sktimbre._device import limit_threads
from sktimbre.metrics import (
    conversion_scorer,
    log_spectral_distance,
    make_timbre_scorer,
    reconstruction_scorer,
)

from .conftest import harmonic_tone

FAST = dict(hidden=16, max_epochs=1, early_stopping=False, random_state=0,
            steps_per_epoch=None, calibrate_alpha=False)
GRID = {"spec__n_fft": [256, 512], "vae__latent_dim": [4, 8]}
BOTH = make_timbre_scorer(["reconstruction", "conversion"])


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These tests check behaviour, not speed: one intra-op thread keeps tiny
    networks from waiting on a second core that a busy machine lends late."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tones():
    """Six half-second tones of each of two timbres: bright (A), pure (B)."""
    rng = np.random.default_rng(1)
    a = [harmonic_tone(rng.uniform(200, 500), [1, 0.8, 0.6, 0.5, 0.4, 0.3], 0.5,
                       seed=i) for i in range(6)]
    b = [harmonic_tone(rng.uniform(260, 700), [1, 0.12, 0.04], 0.5, seed=10 + i)
         for i in range(6)]
    return a, b


def make_pipe(**vae):
    return Pipeline([("spec", SpectrogramTransformer(hop_length=128)),
                     ("vae", TimbreVAE(**{**FAST, **vae}))])


def check_results(search, names):
    n_candidates = len(search.cv_results_["params"])
    assert n_candidates == 4
    for name in names:
        scores = search.cv_results_[f"mean_test_{name}"]
        assert scores.shape == (n_candidates,) and np.isfinite(scores).all()
    if "reconstruction" in names:
        assert (search.cv_results_["mean_test_reconstruction"] < 0).all()
    if "conversion" in names:
        conversion = search.cv_results_["mean_test_conversion"]
        assert ((conversion >= 0) & (conversion <= 1)).all()


def test_pair_form_search_refits_the_best_and_round_trips(tones, tmp_path):
    a, b = tones
    search = GridSearchCV(make_pipe(), GRID, scoring=BOTH, refit="conversion",
                          cv=3).fit(a, b)
    check_results(search, ["reconstruction", "conversion"])
    results = search.cv_results_
    assert search.best_index_ == int(np.argmax(results["mean_test_conversion"]))
    best = search.best_estimator_
    assert best.get_params()["spec__n_fft"] == search.best_params_["spec__n_fft"]
    assert best["vae"].n_clips_ == (6, 6)
    joblib.dump(best, tmp_path / "best.joblib")
    loaded = joblib.load(tmp_path / "best.joblib")
    assert np.array_equal(convert(loaded, a[0], alpha=0.5),
                          convert(best, a[0], alpha=0.5))
    assert search.score(a, b) == pytest.approx(conversion_scorer(best, a, b))


def test_label_form_search_with_stratified_folds(tones):
    a, b = tones
    clips = a + b
    labels = np.array(["violin"] * len(a) + ["flute"] * len(b))
    search = GridSearchCV(make_pipe(), GRID, scoring=reconstruction_scorer,
                          cv=StratifiedKFold(3, shuffle=True, random_state=0))
    search.fit(clips, labels)
    assert search.cv_results_["mean_test_score"].shape == (4,)
    assert (search.cv_results_["mean_test_score"] < 0).all()
    # The sorted-first label is domain A.
    assert search.best_estimator_["vae"].classes_.tolist() == ["flute", "violin"]


def test_scorers_judge_audio_in_either_form(tones):
    a, b = tones
    pipe = make_pipe().fit(a[:4], b[:4])
    val_a, val_b = a[4:], b[4:]
    own = list(convert(pipe, val_a, alpha=0.0)) + list(convert(pipe, val_b, 1.0))
    expected = -log_spectral_distance(val_a + val_b, own)
    assert reconstruction_scorer(pipe, val_a, val_b) == pytest.approx(expected)
    # Labels in any order give the same split as the pair form.
    mixed = [val_b[0], val_a[0], val_b[1], val_a[1]]
    scores = make_timbre_scorer(["target", "pitch", "conversion"])
    by_pairs = scores(pipe, val_a, val_b)
    by_labels = scores(pipe, mixed, ["y", "x", "y", "x"])
    assert by_labels == pytest.approx(by_pairs)
    assert by_pairs["conversion"] == pytest.approx(
        by_pairs["target"] * by_pairs["pitch"])
    assert 0 <= by_pairs["pitch"] <= 1 and 0 <= by_pairs["target"] <= 1


def test_scorer_errors_name_the_fix(tones):
    a, b = tones
    with pytest.raises(ValueError, match="kind='lsd'"):
        make_timbre_scorer("lsd")
    pipe = make_pipe().fit(a[:2], b[:2])
    with pytest.raises(ValueError, match="both instruments"):
        conversion_scorer(pipe, a[:2], ["x", "x"])
    spec = pipe["spec"]
    on_specs = TimbreVAE(**FAST).fit(spec.transform(a[:2]), b[:2])
    with pytest.raises(TypeError, match="score the Pipeline"):
        reconstruction_scorer(on_specs, a[:2], b[:2])
    with pytest.raises(TypeError, match="Pipeline ending"):
        reconstruction_scorer(Pipeline([("spec", spec)]), a[:2], b[:2])


def test_halving_search_over_epochs(tones):
    a, b = tones
    search = HalvingGridSearchCV(
        make_pipe(), {"vae__latent_dim": [2, 4, 8, 16]}, resource="vae__max_epochs",
        min_resources=1, max_resources=3, factor=2, scoring=reconstruction_scorer,
        cv=2, random_state=0,
    ).fit(a, b)
    assert search.n_resources_ == [1, 2]
    assert search.n_candidates_ == [4, 2]
    assert search.best_estimator_["vae"].n_epochs_ == 2


def test_metadata_routing_of_alpha_survives_the_search(tones):
    a, b = tones
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("spec", SpectrogramTransformer(hop_length=128)),
                         ("vae", TimbreVAE(**FAST).set_transform_request(alpha=True))])
        search = GridSearchCV(pipe, {"vae__latent_dim": [4, 8]},
                              scoring=reconstruction_scorer, cv=2).fit(a, b)
        best = search.best_estimator_
        routed = best.transform(a[0], alpha=0.25)
    assert routed.timbre[1] == 0.25
    direct = best["vae"].transform(best["spec"].transform(a[0]), alpha=0.25)
    assert np.allclose(routed, direct)


def _torch_threads(_):
    import torch

    return torch.get_num_threads()


def test_parallel_workers_do_not_oversubscribe():
    n_cpus = joblib.cpu_count()
    threads = joblib.Parallel(n_jobs=2)(
        joblib.delayed(_torch_threads)(i) for i in range(4))
    assert max(threads) * 2 <= max(n_cpus, 2)
    # Threads of one process share the cores inside limit_threads.
    barrier, seen = threading.Barrier(2), []

    def fit_like():
        with limit_threads():
            barrier.wait()
            seen.append(torch.get_num_threads())
            barrier.wait()

    workers = [threading.Thread(target=fit_like) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(seen) <= max(n_cpus, 2) and min(seen) >= 1


def test_search_on_a_dask_cluster_matches_the_local_one(tones):
    distributed = pytest.importorskip("distributed")
    a, b = tones
    grid = {"spec__n_fft": [256, 512]}
    # refit=False: the choice and the scores are what must match, and a refit
    # on each side would only double the slowest part.
    local = GridSearchCV(make_pipe(), grid, scoring=conversion_scorer, cv=2,
                         refit=False)
    local.fit(a, b)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster), joblib.parallel_config(backend="dask"):
            remote = GridSearchCV(make_pipe(), grid, scoring=conversion_scorer,
                                  cv=2, n_jobs=-1, refit=False).fit(a, b)
    assert remote.best_params_ == local.best_params_
    assert np.allclose(remote.cv_results_["mean_test_score"],
                       local.cv_results_["mean_test_score"], atol=1e-4)


def test_max_time_stops_a_fit_early(tones):
    a, b = tones
    bounded = TimbreVAE(**{**FAST, "max_epochs": 500, "max_time": 0.2}).fit(a, b)
    assert 1 <= bounded.n_epochs_ < 500
    assert len(bounded.history_["epoch"]) == bounded.n_epochs_
    # The budget is checked after each epoch: at most one epoch over it.
    per_epoch = bounded.fit_time_ / bounded.n_epochs_
    assert bounded.fit_time_ <= 0.2 + 2 * per_epoch + 0.5
