import os

import numpy as np
import pytest

SR = 22050


def harmonic_tone(f0, amplitudes, seconds=1.0, sr=SR, vibrato_cents=0.0, seed=0):
    """A harmonic tone with optional vibrato and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    cents = vibrato_cents * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(f0 * 2 ** (cents / 1200)) / sr
    y = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(amplitudes)
            if f0 * (k + 1) < sr / 2)
    y = y / np.max(np.abs(y)) * 0.5 + 0.002 * rng.standard_normal(len(t))
    envelope = np.minimum(1, np.minimum(t, t[::-1]) * 20)
    return (y * envelope).astype(np.float32)


@pytest.fixture(scope="session")
def two_instruments():
    """Small unpaired sets of two synthetic timbres: bright (A) and pure (B)."""
    rng = np.random.default_rng(0)
    bright = [1, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2]
    pure = [1, 0.12, 0.04]
    a = [harmonic_tone(rng.uniform(200, 500), bright, 1.0, vibrato_cents=20, seed=i)
         for i in range(6)]
    b = [harmonic_tone(rng.uniform(260, 700), pure, 1.0, seed=10 + i)
         for i in range(6)]
    return a, b


@pytest.fixture(scope="session")
def tiny_vae(two_instruments):
    """A TimbreVAE fitted for a few epochs on the synthetic pair."""
    from sktimbre import TimbreVAE

    a, b = two_instruments
    return TimbreVAE(max_epochs=3, hidden=32, early_stopping=False,
                     steps_per_epoch=None, calibrate_alpha=False, random_state=0,
                     device="cpu").fit(a, b)


def median_cents_moved(model, clip, alpha=1.0):
    """Median f0 change in cents (edges trimmed) of ``clip`` converted to alpha."""
    from sktimbre._features import harmonic_f0

    spec = model.spectrogram_
    source = spec.transform(clip)
    out = model.transform(source, alpha=alpha)
    f_in, _ = harmonic_f0(spec.magnitude(source), sr=spec.sr, n_fft=spec.n_fft)
    f_out, _ = harmonic_f0(spec.magnitude(out), sr=spec.sr, n_fft=spec.n_fft)
    cents = 1200 * np.abs(np.log2(f_out.cpu().numpy() / f_in.cpu().numpy()))
    return float(np.median(cents[10:-10]))


def pytest_configure(config):
    """Under pytest-xdist each worker shares the cores with the others: one
    torch thread each, or their thread pools take turns on every core."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


# The bad-input tallies of pytest-xdist's workers, gathered by the controller.
_WORKER_TALLIES = []


def _bad_input_tally():
    """The tally of tests/test_bad_input.py in this process, if it ran here."""
    import sys

    module = next((m for name, m in list(sys.modules.items())
                   if name.endswith("test_bad_input")), None)
    return getattr(module, "TALLY", None)


def pytest_sessionfinish(session):
    """On a pytest-xdist worker, hand the bad-input tally to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    tally = _bad_input_tally()
    if workeroutput is not None and tally:
        workeroutput["bad_input_tally"] = dict(tally)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: keep what a finished worker tallied."""
    tally = getattr(node, "workeroutput", {}).get("bad_input_tally")
    if tally:
        _WORKER_TALLIES.append(tally)


def pytest_terminal_summary(terminalreporter):
    """Report the bad-input table's count: tried, clear errors, crashes."""
    from collections import Counter

    tally = Counter(_bad_input_tally() or {})
    for worker in _WORKER_TALLIES:
        tally.update(worker)
    if not tally:
        return
    failed = [r for r in terminalreporter.stats.get("failed", [])
              if "test_bad_input" in r.nodeid]
    terminalreporter.write_line(
        f"bad input: {sum(tally.values()) + len(failed)} cases tried, "
        f"{tally['clear error']} clear errors, "
        f"{tally['accepted as documented']} accepted as documented, "
        f"{len(failed)} crashed or answered wrongly")
