"""Every public entry point against bad input, as one table of cases.

Each case either raises the right error with a message that names the problem
and the fix, or, where the documented behaviour is to accept the input
(short clips are zero-padded with a warning, silence stays silent, samples
beyond [-1, 1] are taken as they are, files at other rates are resampled),
checks that behaviour exactly. Every case also checks that the caller's input,
array or file, is unchanged afterwards.
"""

import copy
import re
import warnings
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pytest
import soundfile as sf
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from sktimbre import MatchEQ, SpectrogramTransformer, TimbreCycleGAN, TimbreVAE, convert
from sktimbre.cli import main
from sktimbre.datasets import load_musicnet
from sktimbre.io import load_audio, save_audio
from sktimbre.metrics import (
    log_spectral_distance,
    mel_cepstral_distortion,
    reconstruction_scorer,
    timbre_features,
)

from .conftest import SR
from .timbre_models import one_torch_thread, short_pair, tiny  # noqa: F401

N = SR // 2  # samples of the clips fed in: 0.5 s
# Cases that passed, by outcome; tests/conftest.py prints the count.
TALLY = Counter()


def tiny_vae(**params):
    return tiny(TimbreVAE, hidden=8, **params)


def tiny_spectrogram(**params):
    return SpectrogramTransformer(n_iter=4, device="cpu", **params)


@pytest.fixture(scope="module")
def ctx():
    """The fitted estimators every case reuses, fitted once."""
    a, b = short_pair(n_clips=2, seconds=0.5)
    pipe = Pipeline([("spec", tiny_spectrogram()), ("vae", tiny_vae())])
    others = {
        "n_fft": tiny_spectrogram(n_fft=512, hop_length=128),
        "n_mels": tiny_spectrogram(n_mels=64),
        "sr": tiny_spectrogram(sr=16000),
    }
    return SimpleNamespace(
        a=a, b=b, x=a[0],
        spec=tiny_spectrogram().fit(a, b),
        vae=tiny_vae().fit(a, b),
        gan=tiny(TimbreCycleGAN).fit(a, b),
        eq=MatchEQ().fit(a, b),
        pipe=pipe.fit(a, b),
        others={k: t.fit(a, b) for k, t in others.items()},
    )


# ------------------------------------------------------------ expectations
class Raises:
    """The call raises ``error`` with a message matching ``match``."""

    def __init__(self, error, match):
        self.error, self.match = error, match


class Accepts:
    """The call succeeds; ``check(out, x, ctx)`` asserts what it returns.
    ``warns`` is the one warning expected, ``(category, match)``, or None for
    no UserWarning or RuntimeWarning at all."""

    def __init__(self, check, warns=None):
        self.check, self.warns = check, warns


def run_case(call, x, expect, ctx):
    before = copy.deepcopy(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(expect, Raises):
            with pytest.raises(expect.error, match=expect.match):
                call(ctx, x)
        else:
            out = call(ctx, x)
    if isinstance(expect, Accepts):
        expect.check(out, x, ctx)
        loud = [w for w in caught
                if issubclass(w.category, (UserWarning, RuntimeWarning))]
        if expect.warns is None:
            assert not loud, [str(w.message) for w in loud]
        else:
            category, match = expect.warns
            assert loud and all(issubclass(w.category, category) for w in loud)
            assert any(match in str(w.message) for w in loud), loud[0].message
    assert_unchanged(x, before)
    outcome = "clear error" if isinstance(expect, Raises) else "accepted as documented"
    TALLY[outcome] += 1


def assert_unchanged(x, before):
    if isinstance(x, (list, tuple)):
        assert type(x) is type(before) and len(x) == len(before)
        for item, then in zip(x, before):
            assert_unchanged(item, then)
    elif isinstance(x, np.ndarray):
        assert x.dtype == before.dtype
        np.testing.assert_array_equal(x, before)
        for name in ("lengths", "phase", "timbre"):
            now, then = getattr(x, name, None), getattr(before, name, None)
            assert (now is None and then is None) or np.array_equal(now, then)
    else:
        assert x == before


def finite_like(out, x, ctx):
    out = np.asarray(out)
    assert out.shape == np.shape(x) and np.isfinite(out).all()


def silent_like(out, x, ctx):
    finite_like(out, x, ctx)
    assert np.abs(out).max() < 1e-6


def fitted(out, x, ctx):
    check_is_fitted(out)


# --------------------------------------------------------------- audio in
def _fit(make):
    return lambda ctx, x: make().fit([x, x], ctx.b)


def _fit_batch(make):
    """``x`` itself as X, where a 2-D array is a batch (n_clips, n_samples)."""
    return lambda ctx, x: make().fit(x, ctx.b)


FITS = {
    "SpectrogramTransformer.fit": _fit(tiny_spectrogram),
    "TimbreVAE.fit": _fit(tiny_vae),
    "TimbreCycleGAN.fit": _fit(lambda: tiny(TimbreCycleGAN)),
    "MatchEQ.fit": _fit(MatchEQ),
    "SpectrogramTransformer.fit(X=x)": _fit_batch(tiny_spectrogram),
    "TimbreVAE.fit(X=x)": _fit_batch(tiny_vae),
    "MatchEQ.fit(X=x)": _fit_batch(MatchEQ),
}
APPLIES = {
    "SpectrogramTransformer.transform": lambda ctx, x: ctx.spec.transform(x),
    "TimbreVAE.transform": lambda ctx, x: ctx.vae.transform(x, alpha=1.0),
    "TimbreVAE.inverse_transform": lambda ctx, x: ctx.vae.inverse_transform(x),
    "TimbreCycleGAN.transform": lambda ctx, x: ctx.gan.transform(x, alpha=1.0),
    "TimbreCycleGAN.inverse_transform": lambda ctx, x: ctx.gan.inverse_transform(x),
    "MatchEQ.transform": lambda ctx, x: ctx.eq.transform(x),
    "MatchEQ.inverse_transform": lambda ctx, x: ctx.eq.inverse_transform(x),
    "convert[Pipeline]": lambda ctx, x: convert(ctx.pipe, x, alpha=1.0),
    "convert[TimbreCycleGAN]": lambda ctx, x: convert(ctx.gan, x, alpha=0.5),
}
# Entry points that take clips to measure, not to convert; they see the bad
# layouts only (the per-sample rules are check_audio's, covered above).
MEASURES = {
    "log_spectral_distance": lambda ctx, x: log_spectral_distance(x, x),
    "mel_cepstral_distortion": lambda ctx, x: mel_cepstral_distortion(x, x),
    "timbre_features": lambda ctx, x: timbre_features(x),
    "reconstruction_scorer": lambda ctx, x: reconstruction_scorer(ctx.pipe, x,
                                                                  ctx.b),
    "reconstruction_scorer[y]": lambda ctx, x: reconstruction_scorer(
        ctx.pipe, ctx.a, x),
}


def _save(ctx, x):
    return save_audio(ctx.tmp / "out.wav", x, SR)


def _channels(x, n_channels):
    """``x`` at a different gain in each of ``n_channels`` rows."""
    gains = np.linspace(1.0, 0.3, n_channels, dtype=np.float32)
    return gains[:, None] * x[None]


BAD_AUDIO = {
    "nan": lambda x: np.where(np.arange(N) == 7, np.nan, x).astype(np.float32),
    "inf": lambda x: np.where(np.arange(N) == 7, -np.inf, x).astype(np.float32),
    "empty": lambda x: np.zeros(0, dtype=np.float32),
    "shorter_than_n_fft": lambda x: x[:100].copy(),
    "int16_pcm": lambda x: (x * 32767).astype(np.int16),
    "stereo_channels_first": lambda x: np.stack([x, 0.5 * x]),
    "stereo_channels_last": lambda x: np.stack([x, 0.5 * x], axis=1),
    # soundfile's (n_samples, n_channels) with 3 to 8 channels (7.1 surround),
    # and 8 channels first, which a batch of 8 clips looks like.
    **{f"channels_last_{c}": (lambda x, c=c: _channels(x, c).T)
       for c in range(3, 9)},
    "channels_first_8": lambda x: _channels(x, 8),
    "silence": lambda x: np.zeros(N, dtype=np.float32),
    "clipping": lambda x: 4 * x,
}

NAN = Raises(ValueError, r"NaN or infinite sample.*np\.nan_to_num")
INT16 = Raises(TypeError, r"integer dtype int16 \(PCM.*astype\(np\.float32\)")
EMPTY = Raises(ValueError, r"is empty.*Drop empty clips")
MULTICHANNEL = Raises(ValueError, r"multichannel.*mean\(axis=1\)")
SHORT_WARNING = (UserWarning, "n_fft=1024")


# A batch is inverted in one stacked Griffin-Lim, a row alone in its own. The
# model's spectrograms are the same to the bit, but the FFTs of the two sum in
# another order on some processors, and Griffin-Lim's iterations carry that
# rounding to about -60 dB of the row (measured: 61-95 dB on an Intel Xeon).
# A row mixed with another, or at another's gain, is under 20 dB.
MIN_ROW_SNR_DB = 50.0


def per_channel(call):
    """A (n_channels, n_samples) array is a batch: each row converted alone."""
    def check(out, x, ctx):
        assert np.shape(out)[0] == len(x)
        for row, got in zip(x, out):
            alone = call(ctx, row)
            error = np.sum((np.asarray(got, np.float64) - alone) ** 2)
            snr = 10 * np.log10(np.sum(np.asarray(alone, np.float64) ** 2)
                                / max(error, 1e-30))
            assert snr >= MIN_ROW_SNR_DB, f"row differs from it alone: {snr:.1f} dB"
    return check


def silent_spectrogram(out, x, ctx):
    assert out.shape[0] == ctx.spec.n_freq_ and np.isfinite(out).all()
    assert ctx.spec.silent_frames(out).all()
    assert np.abs(ctx.spec.inverse_transform(out)).max() < 1e-6


def spectrogram_of(out, x, ctx):
    assert out.shape[0] == ctx.spec.n_freq_ and np.isfinite(out).all()
    assert out.lengths == len(x)


def written(channels, peak=None):
    def check(path, x, ctx):
        y, sr = load_audio(path, mono=False)
        assert sr == SR and y.shape == (channels, np.shape(x)[-1])
        expected = np.atleast_2d(x) if peak is None else np.clip(np.atleast_2d(x),
                                                                   -peak, peak)
        np.testing.assert_allclose(y, expected, atol=1e-4)
    return check


def expect_audio(entry, bad):
    if bad in ("nan", "inf"):
        return NAN
    if bad == "empty":
        return EMPTY
    if bad == "int16_pcm":
        return INT16
    channels_last, channels_first = "channels_last" in bad, "channels_first" in bad
    if entry == "save_audio":
        if channels_last:
            return Raises(ValueError, r"channels first.*pass y\.T")
        return {
            "shorter_than_n_fft": Accepts(written(1)),
            "stereo_channels_first": Accepts(written(2)),
            "channels_first_8": Accepts(written(8)),
            "silence": Accepts(written(1)),
            "clipping": Accepts(written(1, peak=1.0),
                                warns=(UserWarning, "above full scale")),
        }[bad]
    fit = entry in FITS
    batch_fit = entry.endswith("(X=x)")
    if channels_last or (fit and channels_first and not batch_fit):
        return MULTICHANNEL
    if channels_first:
        return Accepts(fitted) if batch_fit else Accepts(per_channel(APPLIES[entry]))
    if fit:
        if bad == "silence" and entry.startswith("MatchEQ.fit"):
            return Raises(ValueError, r"domain A are silent.*recordings with sound")
        return Accepts(fitted, warns=SHORT_WARNING if bad.startswith("short") else None)
    spectrogram = entry == "SpectrogramTransformer.transform"
    if bad == "silence":
        return Accepts(silent_spectrogram if spectrogram else silent_like)
    check = spectrogram_of if spectrogram else finite_like
    return Accepts(check, warns=SHORT_WARNING if bad.startswith("short") else None)


AUDIO_CASES = [
    pytest.param(entry, bad, id=f"{entry}-{bad}")
    for entry in [*FITS, *APPLIES, "save_audio"]
    for bad in BAD_AUDIO
]


@pytest.mark.parametrize("entry, bad", AUDIO_CASES)
def test_audio_input(ctx, tmp_path, entry, bad):
    ctx.tmp = tmp_path
    call = {**FITS, **APPLIES, "save_audio": _save}[entry]
    run_case(call, BAD_AUDIO[bad](ctx.x), expect_audio(entry, bad), ctx)


@pytest.mark.parametrize("entry, bad", [
    pytest.param(entry, bad, id=f"{entry}-{bad}")
    for entry in MEASURES for bad in BAD_AUDIO if "channels_last" in bad
])
def test_measures_refuse_multichannel(ctx, entry, bad):
    run_case(MEASURES[entry], BAD_AUDIO[bad](ctx.x), MULTICHANNEL, ctx)


# ----------------------------------------------------------------- labels
def _label_fit(make):
    return lambda ctx, xy: make().fit(*xy)


LABEL_TAKERS = {
    "TimbreVAE.fit": _label_fit(tiny_vae),
    "TimbreCycleGAN.fit": _label_fit(lambda: tiny(TimbreCycleGAN)),
    "MatchEQ.fit": _label_fit(MatchEQ),
    "Pipeline.fit": _label_fit(lambda: Pipeline([("spec", tiny_spectrogram()),
                                                 ("vae", tiny_vae())])),
    "reconstruction_scorer": lambda ctx, xy: reconstruction_scorer(ctx.pipe, *xy),
}
# How X holds the four clips a + b; spectrograms only for the models that
# take them.
X_LAYOUTS = {
    "list": lambda ctx: list(ctx.a + ctx.b),
    "array": lambda ctx: np.stack(ctx.a + ctx.b),
    "Spectrogram": lambda ctx: ctx.pipe["spec"].transform(np.stack(ctx.a + ctx.b)),
    "list_of_Spectrogram": lambda ctx: list(
        ctx.pipe["spec"].transform(np.stack(ctx.a + ctx.b))),
    "plain_3d_array": lambda ctx: np.asarray(
        ctx.pipe["spec"].transform(np.stack(ctx.a + ctx.b))),
}
AUDIO_ONLY = ("MatchEQ.fit", "Pipeline.fit", "reconstruction_scorer")


def _takes(entry, layout):
    return entry not in AUDIO_ONLY or layout in ("list", "array")


BAD_LABELS = {
    "3_ints_for_4_clips": [0, 0, 1],
    "5_ints_for_4_clips": [0, 0, 1, 1, 1],
    "3_strs_for_4_clips": ["flute", "violin", "violin"],
    "5_bools_for_4_clips": np.array([True, True, False, False, False]),
    "0_ints_for_4_clips": np.array([], dtype=np.int64),
    "one_class": [1, 1, 1, 1],
    "three_classes": ["a", "b", "c", "a"],
}


def expect_labels(bad):
    if bad.endswith("_clips"):
        n_labels = int(bad.split("_")[0])
        return Raises(ValueError, rf"X holds 4 clip\(s\) but y holds {n_labels} "
                      r"label\(s\).*one label per clip")
    return Raises(ValueError, r"class\(es\).*exactly two.*both instruments")


@pytest.mark.parametrize("entry, layout, bad", [
    pytest.param(entry, layout, bad, id=f"{entry}-X={layout}-y={bad}")
    for entry in LABEL_TAKERS for layout in X_LAYOUTS for bad in BAD_LABELS
    if _takes(entry, layout)
])
def test_labels_that_do_not_fit_the_clips(ctx, entry, layout, bad):
    """No clip is dropped, and no IndexError: the counts and the fix are named."""
    xy = (X_LAYOUTS[layout](ctx), BAD_LABELS[bad])
    run_case(LABEL_TAKERS[entry], xy, expect_labels(bad), ctx)


def _split_two_two(out, xy, ctx):
    model = out[-1] if isinstance(out, Pipeline) else out
    if isinstance(model, MatchEQ):
        np.testing.assert_allclose(model.gain_, ctx.eq.gain_, rtol=1e-5)
    else:
        assert model.n_clips_ == (2, 2)
        assert model.classes_.tolist() == sorted(set(np.asarray(xy[1]).tolist()))


@pytest.mark.parametrize("entry, layout", [
    pytest.param(entry, layout, id=f"{entry}-X={layout}")
    for entry in ("TimbreVAE.fit", "MatchEQ.fit", "Pipeline.fit")
    # Plain spectrogram arrays carry no transformer to read them with.
    for layout in X_LAYOUTS if _takes(entry, layout) and layout != "plain_3d_array"
])
def test_labels_split_every_layout_of_X(ctx, entry, layout):
    """The same split, unchanged input, for each way X can hold the clips."""
    labels = np.array([1.0, 1.0, 2.0, 2.0])  # floats: one per clip, so labels
    run_case(LABEL_TAKERS[entry], (X_LAYOUTS[layout](ctx), labels),
             Accepts(_split_two_two), ctx)


def test_float_y_is_labels_only_with_one_value_per_clip(ctx):
    """A 1-D float y is labels when it has one value per clip of X, and
    instrument B's clip otherwise; other dtypes are always labels."""
    clips = ctx.a + ctx.b
    by_labels = tiny_vae().fit(clips, np.array([0.0, 0.0, 1.0, 1.0]))
    assert by_labels.n_clips_ == (2, 2) and by_labels.classes_.tolist() == [0, 1]
    by_clip = tiny_vae().fit(clips, ctx.b[0])
    assert by_clip.n_clips_ == (4, 1) and by_clip.classes_.tolist() == ["A", "B"]
    # The transformer pools the clip's statistics with X's, as for a list.
    spec = tiny_spectrogram()
    assert spec.fit(ctx.a, ctx.b[0]).n_clips_seen_ == len(ctx.a) + 1
    assert spec.fit(clips, [0.0, 0.0, 1.0, 1.0]).n_clips_seen_ == len(clips)
    with pytest.raises(ValueError, match=r"4 clip\(s\) but y holds 5 label"):
        tiny_vae().fit(clips, np.array([0, 0, 1, 1, 1], dtype=np.int16))


# --------------------------------------------------------- spectrograms in
SPECTROGRAM_TAKERS = {
    "SpectrogramTransformer.inverse_transform":
        (lambda ctx: ctx.spec, lambda ctx, S: ctx.spec.inverse_transform(S)),
    "TimbreVAE.transform":
        (lambda ctx: ctx.pipe["spec"], lambda ctx, S: ctx.pipe["vae"].transform(S)),
    "TimbreVAE.inverse_transform":
        (lambda ctx: ctx.pipe["spec"],
         lambda ctx, S: ctx.pipe["vae"].inverse_transform(S)),
    "TimbreVAE.score":
        (lambda ctx: ctx.pipe["spec"], lambda ctx, S: ctx.pipe["vae"].score(S)),
    "TimbreCycleGAN.transform":
        (lambda ctx: ctx.gan.spectrogram_, lambda ctx, S: ctx.gan.transform(S)),
    "TimbreCycleGAN.inverse_transform":
        (lambda ctx: ctx.gan.spectrogram_,
         lambda ctx, S: ctx.gan.inverse_transform(S)),
}


def _with_nan(own, ctx):
    S = own.transform(ctx.x)
    S[3, 4] = np.nan
    return S


BAD_SPECTROGRAMS = {
    "nan": (_with_nan, Raises(ValueError, r"NaN or infinite values.*check what")),
    "no_frames": (lambda own, ctx: np.zeros((1, own.n_freq_, 0), np.float32),
                  Raises(ValueError, r"no frames|n_frames >= 1")),
    "other_n_fft": (lambda own, ctx: ctx.others["n_fft"].transform(ctx.x),
                    Raises(ValueError, r"other settings \(.*n_fft=512.*transformer")),
    "other_n_mels": (lambda own, ctx: ctx.others["n_mels"].transform(ctx.x),
                     Raises(ValueError, r"other settings \(.*n_mels=64.*transformer")),
    "other_sr": (lambda own, ctx: ctx.others["sr"].transform(ctx.x),
                 Raises(ValueError, r"other settings \(sr=16000.*transformer")),
    "plain_array_other_n_fft":
        (lambda own, ctx: np.asarray(ctx.others["n_fft"].transform(ctx.x))[None],
         Raises(ValueError, r"shape \(257, \d+\).*\(513, n_frames\)")),
    "plain_array_other_n_mels":
        (lambda own, ctx: np.asarray(ctx.others["n_mels"].transform(ctx.x))[None],
         Raises(ValueError, r"shape \(64, \d+\).*\(513, n_frames\)")),
}


@pytest.mark.parametrize("entry, bad", [
    pytest.param(entry, bad, id=f"{entry}-{bad}")
    for entry in SPECTROGRAM_TAKERS for bad in BAD_SPECTROGRAMS
])
def test_spectrogram_input(ctx, entry, bad):
    own, call = SPECTROGRAM_TAKERS[entry]
    make, expect = BAD_SPECTROGRAMS[bad]
    run_case(call, make(own(ctx), ctx), expect, ctx)


# ------------------------------------------------------------------ alpha
ALPHA_TAKERS = {
    "TimbreVAE.transform": lambda ctx, x, alpha: ctx.vae.transform(x, alpha=alpha),
    "TimbreCycleGAN.transform":
        lambda ctx, x, alpha: ctx.gan.transform(x, alpha=alpha),
    "MatchEQ.transform": lambda ctx, x, alpha: ctx.eq.transform(x, alpha=alpha),
    "convert[Pipeline]": lambda ctx, x, alpha: convert(ctx.pipe, x, alpha=alpha),
    "convert[TimbreCycleGAN]": lambda ctx, x, alpha: convert(ctx.gan, x, alpha=alpha),
    "TimbreVAE(alpha=).fit":
        lambda ctx, x, alpha: tiny_vae(alpha=alpha).fit([x], ctx.b),
}
BAD_ALPHAS = {"1.5": 1.5, "-0.1": -0.1, "nan": float("nan"), "inf": float("inf"),
              "str": "0.5"}


def expect_alpha(entry, name):
    if entry.endswith("fit"):
        return Raises(InvalidParameterError, r"'alpha' parameter of TimbreVAE must "
                      r"be a float in the range \[0\.0, 1\.0\]")
    if name == "str":
        return Raises(TypeError, r"alpha='0\.5' is not a number; pass a float")
    return Raises(ValueError, rf"alpha={BAD_ALPHAS[name]} is outside \[0, 1\]; "
                  "pass a value between 0")


@pytest.mark.parametrize("entry, name", [
    pytest.param(entry, name, id=f"{entry}-alpha={name}")
    for entry in ALPHA_TAKERS for name in BAD_ALPHAS
])
def test_alpha(ctx, entry, name):
    take = ALPHA_TAKERS[entry]
    run_case(lambda ctx, x: take(ctx, x, BAD_ALPHAS[name]), ctx.x.copy(),
             expect_alpha(entry, name), ctx)


# --------------------------------------------------------------- unfitted
UNFITTED = {
    f"{name}.{method}": (make, method)
    for name, make in {
        "SpectrogramTransformer": tiny_spectrogram,
        "TimbreVAE": tiny_vae,
        "TimbreCycleGAN": lambda: tiny(TimbreCycleGAN),
        "MatchEQ": MatchEQ,
    }.items()
    for method in ("transform", "inverse_transform")
}


def _unfitted_call(make, method):
    return lambda ctx, x: getattr(make(), method)(x)


UNFITTED_CALLS = {
    **{name: _unfitted_call(*how) for name, how in UNFITTED.items()},
    "TimbreVAE.score": lambda ctx, x: tiny_vae().score(x),
    "convert[TimbreVAE]": lambda ctx, x: convert(tiny_vae(), x),
    "convert[Pipeline]": lambda ctx, x: convert(
        Pipeline([("spec", tiny_spectrogram()), ("vae", tiny_vae())]), x),
}


@pytest.mark.parametrize("entry", UNFITTED_CALLS)
def test_unfitted(ctx, entry):
    name = "Pipeline" if entry == "convert[Pipeline]" else (
        entry.split(".")[0].removeprefix("convert[").rstrip("]"))
    run_case(UNFITTED_CALLS[entry], ctx.x.copy(),
             Raises(NotFittedError, rf"This {name} instance is not fitted yet\. "
                    "Call 'fit'"), ctx)


def test_convert_refuses_a_model_that_is_not_a_timbre_model(ctx):
    run_case(lambda ctx, x: convert(ctx.eq, x), ctx.x.copy(),
             Raises(TypeError, r"convert needs a TimbreVAE or TimbreCycleGAN.*"
                    "got MatchEQ"), ctx)


# ------------------------------------------------------------------ files
@pytest.fixture(scope="module")
def files(tmp_path_factory, ctx):
    """Good and bad audio and model files, written once."""
    root = tmp_path_factory.mktemp("bad_files")
    x = ctx.x
    t16 = np.arange(8000) / 16000
    sf.write(root / "tone.wav", x, SR)
    sf.write(root / "tone16k.wav", (0.5 * np.sin(2 * np.pi * 330 * t16))
             .astype(np.float32), 16000)
    sf.write(root / "stereo.wav", np.stack([x, 0.5 * x], axis=1), SR, subtype="FLOAT")
    sf.write(root / "pcm16.wav", x, SR, subtype="PCM_16")
    sf.write(root / "nan.wav", np.where(np.arange(N) == 7, np.nan, x), SR,
             subtype="FLOAT")
    sf.write(root / "silence.wav", np.zeros(N, np.float32), SR)
    sf.write(root / "loud.wav", 4 * x, SR, subtype="FLOAT")
    sf.write(root / "short.wav", x[:100], SR)
    sf.write(root / "no_frames.wav", np.zeros(0, np.float32), SR)
    (root / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(64))
    (root / "zero_bytes.wav").write_bytes(b"")
    whole = (root / "tone.wav").read_bytes()
    (root / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    for name, clips in (("a", ctx.a), ("b", ctx.b)):
        (root / name).mkdir()
        for i, clip in enumerate(clips):
            sf.write(root / name / f"{i}.wav", clip, SR)
    joblib.dump(ctx.vae, root / "vae.joblib")
    joblib.dump(tiny_vae(), root / "unfitted.joblib")
    joblib.dump({"not": "a model"}, root / "dict.joblib")
    (root / "corrupt.joblib").write_bytes(b"not a model at all")
    return root


def file_bytes(paths):
    return {p: p.read_bytes() for p in paths if p.is_file()}


def run_file_case(call, inputs, expect, ctx):
    """Like run_case, with file paths as the caller's input."""
    before = file_bytes(inputs)
    run_case(lambda ctx, _: call(), None, expect, ctx)
    assert file_bytes(inputs) == before


def loaded(check_y, rate=SR):
    def check(out, x, ctx):
        y, sr = out
        assert sr == rate and np.isfinite(np.asarray(y)).all()
        check_y(np.asarray(y), ctx)
    return check


LOAD_CASES = {
    "missing": ("missing.wav", {},
                Raises(FileNotFoundError, r"missing\.wav does not exist; check the")),
    "corrupt": ("corrupt.wav", {},
                Raises(ValueError,
                       r"corrupt\.wav could not be read as audio.*damaged")),
    "zero_bytes": ("zero_bytes.wav", {},
                   Raises(ValueError, r"zero_bytes\.wav could not be read as audio")),
    "no_frames": ("no_frames.wav", {},
                  Raises(ValueError, r"no_frames\.wav holds no audio \(0 frames\)")),
    "truncated": ("truncated.wav", {},
                  Raises(ValueError, r"truncated\.wav is truncated.*again")),
    "nan": ("nan.wav", {}, Raises(ValueError, r"nan\.wav contains 1 NaN.*repair")),
    "int16_pcm": ("pcm16.wav", {}, Accepts(loaded(
        lambda y, ctx: np.testing.assert_allclose(y, ctx.x, atol=1 / 32767)))),
    "stereo": ("stereo.wav", {}, Accepts(loaded(
        lambda y, ctx: np.testing.assert_allclose(y, 0.75 * ctx.x, atol=1e-6)))),
    "stereo_mono=False": ("stereo.wav", {"mono": False}, Accepts(loaded(
        lambda y, ctx: np.testing.assert_allclose(y, [ctx.x, 0.5 * ctx.x],
                                                  atol=1e-6)))),
    "other_rate": ("tone16k.wav", {}, Accepts(loaded(
        lambda y, ctx: np.testing.assert_equal(y.shape, (8000,)), rate=16000))),
    "other_rate_resampled": ("tone16k.wav", {"sr": SR}, Accepts(loaded(
        lambda y, ctx: np.testing.assert_equal(y.shape, (11025,))))),
    "silence": ("silence.wav", {}, Accepts(loaded(
        lambda y, ctx: np.testing.assert_array_equal(y, 0)))),
    "clipping": ("loud.wav", {}, Accepts(loaded(
        lambda y, ctx: np.testing.assert_allclose(y, 4 * ctx.x, rtol=1e-6)))),
    "shorter_than_n_fft": ("short.wav", {}, Accepts(loaded(
        lambda y, ctx: np.testing.assert_equal(y.shape, (100,))))),
    "sr=0": ("tone.wav", {"sr": 0},
             Raises(ValueError, r"sr=0 is not a sample rate; pass a positive")),
    "sr=nan": ("tone.wav", {"sr": float("nan")},
               Raises(ValueError, r"sr=nan is not a sample rate")),
    "mixed_rates": (["tone.wav", "tone16k.wav"], {},
                    Raises(ValueError, r"mix sample rates.*16000 Hz.*Pass sr=")),
}


@pytest.mark.parametrize("case", LOAD_CASES)
def test_load_audio(ctx, files, case):
    names, kwargs, expect = LOAD_CASES[case]
    paths = [files / n for n in names] if isinstance(names, list) else files / names
    inputs = paths if isinstance(paths, list) else [paths]
    run_file_case(lambda: load_audio(paths, **kwargs), inputs, expect, ctx)


SAVE_CASES = {
    "other_rate": ({"sr": 16000}, Accepts(
        lambda path, x, ctx: np.testing.assert_equal(load_audio(path)[1], 16000))),
    "sr=0": ({"sr": 0}, Raises(ValueError, r"sr=0 is not a valid sample rate")),
    "sr=22050.5": ({"sr": 22050.5},
                   Raises(ValueError, r"sr=22050\.5 is not a valid sample rate")),
    "unknown_extension": ({"path": "out.xyz"},
                          Raises(ValueError, r"out\.xyz; use the extension of")),
}


@pytest.mark.parametrize("case", SAVE_CASES)
def test_save_audio(ctx, tmp_path, case):
    kwargs, expect = SAVE_CASES[case]
    kwargs = {"path": "out.wav", "sr": SR, **kwargs}
    run_case(lambda ctx, x: save_audio(tmp_path / kwargs["path"], x, kwargs["sr"]),
             ctx.x.copy(), expect, ctx)


# --------------------------------------------------------------- MusicNet
def musicnet_copy(root, violin=None, rate=44100, subtype=None):
    """One solo violin (``violin``, or a 2 s tone) and one solo flute."""
    t = np.arange(2 * 44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    (root / "train_data").mkdir(parents=True)
    (root / "musicnet_metadata.csv").write_text(
        "id,ensemble\n1,Solo Violin\n2,Solo Flute\n")
    if isinstance(violin, bytes):
        (root / "train_data" / "1.wav").write_bytes(violin)
    elif not isinstance(violin, str):  # "missing": no file
        sf.write(root / "train_data" / "1.wav", tone if violin is None else violin,
                 rate, subtype=subtype)
    sf.write(root / "train_data" / "2.wav", tone, 44100)
    return root


def clips_of(length):
    def check(data, x, ctx):
        assert data.violin and all(c.shape == (length,) for c in data.violin)
        assert all(c.dtype == np.float32 and np.isfinite(c).all()
                   for c in data.violin)
    return check


_TONE = (0.5 * np.sin(2 * np.pi * 440 * np.arange(2 * 44100) / 44100))
MUSICNET_CASES = {
    "missing_root": ({"root": "nowhere"}, {},
                     Raises(FileNotFoundError, r"nowhere does not exist.*zenodo")),
    "missing_recording": ({"violin": "missing"}, {},
                          Raises(FileNotFoundError, r"1\.wav does not exist: the "
                                 "copy is incomplete")),
    "corrupt_recording": ({"violin": b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(64)}, {},
                          Raises(ValueError, r"1\.wav could not be read as audio")),
    "nan_recording": ({"violin": np.where(np.arange(len(_TONE)) == 9, np.nan, _TONE),
                       "subtype": "FLOAT"}, {},
                      Raises(ValueError, r"1\.wav contains 1 NaN")),
    "silent_recording": ({"violin": np.zeros(2 * 44100)}, {},
                         Raises(ValueError, r"solo violin recordings \[1\] give no "
                                "clip.*larger top_db")),
    "short_recording": ({"violin": _TONE[:100]}, {},
                        Raises(ValueError, r"give no clip of seconds=0\.5.*smaller "
                               "seconds")),
    "other_rate_recording": ({"violin": _TONE[::2], "rate": 22050}, {},
                             Accepts(clips_of(SR // 2))),
    "stereo_recording": ({"violin": np.stack([_TONE, _TONE], axis=1)}, {},
                         Accepts(clips_of(SR // 2))),
    "int16_recording": ({"violin": _TONE, "subtype": "PCM_16"}, {},
                        Accepts(clips_of(SR // 2))),
    "sr=0": ({}, {"sr": 0}, Raises(ValueError, r"sr=0 is not a sample rate")),
    "seconds=nan": ({}, {"seconds": float("nan")},
                    Raises(ValueError, r"seconds=nan is not a clip length")),
}


@pytest.mark.parametrize("case", MUSICNET_CASES)
def test_load_musicnet(ctx, tmp_path, case):
    copy_args, kwargs, expect = MUSICNET_CASES[case]
    copy_args = dict(copy_args)
    root = tmp_path / copy_args.pop("root", "copy")
    if root.name == "copy":
        musicnet_copy(root, **copy_args)
    inputs = sorted(root.rglob("*")) if root.exists() else []
    run_file_case(lambda: load_musicnet(root, **{"seconds": 0.5, **kwargs}),
                  inputs, expect, ctx)


# ------------------------------------------------------------------- CLI
class Exits:
    """The command exits with ``code`` and one error line matching ``match``."""

    def __init__(self, code, match):
        self.code, self.match = code, match


TINY_FIT = ["--param", "hidden=8", "--param", "max_epochs=1",
            "--param", "steps_per_epoch=2", "--param", "calibrate_alpha=false",
            "--param", "early_stopping=false", "--param", "device=cpu"]


def cli_fit(*a_files):
    return lambda f, out: ["fit", "--a", *[str(f / n) for n in a_files],
                           "--b", str(f / "b"), *TINY_FIT, "-o", str(out)]


def cli_convert(model, source, *extra):
    # These models are joblib files, which the command opens only when told
    # to trust them.
    return lambda f, out: ["convert", str(f / model), str(f / source), *extra,
                           "--trust-pickle", "-o", str(out)]


def info_trusted(model):
    return lambda f, out: ["info", "--trust-pickle", str(f / model)]


def output_audio(length, rate=SR, peak=None):
    def check(out):
        y, sr = load_audio(out)
        assert sr == rate and y.shape == (length,) and np.isfinite(y).all()
        if peak is not None:
            assert np.abs(y).max() <= peak
    return check


def model_file(out):
    model = joblib.load(out)
    check_is_fitted(model)
    assert model.fit_info_["sr"] == SR


CLI_CASES = {
    "fit-missing_file": (cli_fit("missing.wav"),
                         Exits(1, r"missing\.wav does not exist")),
    "fit-corrupt_file": (cli_fit("corrupt.wav"),
                         Exits(1, r"corrupt\.wav could not be read as audio")),
    "fit-nan_file": (cli_fit("nan.wav"), Exits(1, r"nan\.wav contains 1 NaN")),
    "fit-empty_file": (cli_fit("no_frames.wav"), Exits(1, r"holds no audio")),
    "fit-other_rate": (cli_fit("tone16k.wav", "tone.wav"), model_file),
    "fit-stereo": (cli_fit("stereo.wav", "tone.wav"), model_file),
    "fit-int16_pcm": (cli_fit("pcm16.wav", "tone.wav"), model_file),
    "fit-bad_alpha": (lambda f, out: cli_fit("a")(f, out) + ["--param", "alpha=1.5"],
                      Exits(1, r"'alpha' parameter of TimbreVAE must be")),
    "fit-no_arguments": (lambda f, out: ["fit"],
                         Exits(2, r"the following arguments are required: --a")),
    "convert-missing_model": (cli_convert("nope.joblib", "tone.wav"),
                              Exits(1, r"model file .*nope\.joblib does not exist")),
    "convert-corrupt_model": (cli_convert("corrupt.joblib", "tone.wav"),
                              Exits(1, r"corrupt\.joblib is not a model file "
                                    "written by `sktimbre fit`")),
    "convert-unfitted_model": (cli_convert("unfitted.joblib", "tone.wav"),
                               Exits(1, r"holds an unfitted TimbreVAE; fit one")),
    "convert-missing_input": (cli_convert("vae.joblib", "nope.wav"),
                              Exits(1, r"nope\.wav does not exist")),
    "convert-corrupt_input": (cli_convert("vae.joblib", "corrupt.wav"),
                              Exits(1, r"corrupt\.wav could not be read as audio")),
    "convert-nan_input": (cli_convert("vae.joblib", "nan.wav"),
                          Exits(1, r"nan\.wav contains 1 NaN")),
    "convert-alpha=1.5": (cli_convert("vae.joblib", "tone.wav", "--alpha", "1.5"),
                          Exits(1, r"alpha=1\.5 is outside \[0, 1\]")),
    "convert-alpha=nan": (cli_convert("vae.joblib", "tone.wav", "--alpha", "nan"),
                          Exits(1, r"alpha=nan is outside \[0, 1\]")),
    "convert-alpha=x": (cli_convert("vae.joblib", "tone.wav", "--alpha", "x"),
                        Exits(2, r"argument --alpha: invalid float value: 'x'")),
    "convert-sweep=1": (cli_convert("vae.joblib", "tone.wav", "--sweep", "1"),
                        Exits(2, r"argument --sweep: 1 is too few.*use --alpha")),
    "convert-other_rate": (cli_convert("vae.joblib", "tone16k.wav"),
                           output_audio(8000, rate=16000)),
    "convert-stereo": (cli_convert("vae.joblib", "stereo.wav"), output_audio(N)),
    "convert-int16_pcm": (cli_convert("vae.joblib", "pcm16.wav"), output_audio(N)),
    "convert-silence": (cli_convert("vae.joblib", "silence.wav"),
                        output_audio(N, peak=1e-6)),
    "convert-clipping": (cli_convert("vae.joblib", "loud.wav"),
                         output_audio(N, peak=1.0)),
    "convert-shorter_than_n_fft": (cli_convert("vae.joblib", "short.wav"),
                                   output_audio(100)),
    "info-missing_model": (info_trusted("nope.joblib"),
                           Exits(1, r"nope\.joblib does not exist")),
    "info-corrupt_model": (info_trusted("corrupt.joblib"),
                           Exits(1, r"is not a model file written by")),
    "info-unfitted_model": (info_trusted("unfitted.joblib"),
                            Exits(1, r"holds an unfitted TimbreVAE")),
    "info-not_a_model": (info_trusted("dict.joblib"),
                         Exits(1, r"holds a dict, not a timbre model")),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli(files, tmp_path, capsys, case):
    make_args, expect = CLI_CASES[case]
    out = tmp_path / ("model.joblib" if case.startswith("fit") else "out.wav")
    args = make_args(files, out)
    inputs = [Path(a) for a in args if Path(a).is_file()]
    before = file_bytes(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = main(args)
        except SystemExit as exit_:
            code = exit_.code
    stderr = capsys.readouterr().err
    assert file_bytes(inputs) == before
    assert "Traceback" not in stderr
    if not isinstance(expect, Exits):
        assert code == 0, stderr
        expect(out)
        TALLY["accepted as documented"] += 1
        return
    assert code == expect.code
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("sktimbre")
    assert re.search(expect.match, errors[0]), errors[0]
    TALLY["clear error"] += 1
