"""The spectrogram's constants are built once per device and give the same
numbers as building them per call; the row methods on tensors agree with
transform; a judge held fixed gets its flags back."""

import pickle

import numpy as np
import pytest
import torch

from sktimbre import SpectrogramTransformer
from sktimbre._dsp import griffinlim, mel_to_linear
from sktimbre._frozen import frozen
from sktimbre._spectral_kernels import cached_kernels


@pytest.fixture
def clips():
    rng = np.random.default_rng(0)
    t = np.arange(8192) / 22050
    return np.stack([0.3 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(
        t.size) for f in (220.0, 330.0)]).astype(np.float32)


def test_kernels_are_built_once_and_again_after_a_fit(clips):
    spec = SpectrogramTransformer(n_mels=32, device="cpu").fit(clips)
    first = cached_kernels(spec, "cpu")
    assert cached_kernels(spec, torch.device("cpu")) is first
    spec.fit(clips * 0.5)
    again = cached_kernels(spec, "cpu")
    assert again is not first
    assert torch.equal(again.mean, torch.as_tensor(spec.mean_, dtype=torch.float32))


def test_kept_window_and_mel_inverse_give_the_numbers_built_per_call(clips):
    spec = SpectrogramTransformer(n_mels=32, n_fft=512, hop_length=128,
                                  device="cpu").fit(clips)
    kernels = cached_kernels(spec, "cpu")
    rows = torch.as_tensor(np.asarray(spec.transform(clips)))
    mel = torch.exp(spec.denormalise(rows))
    kept = mel_to_linear(mel, kernels.mel_basis, gram=kernels.mel_gram,
                         pinv=kernels.mel_pinv)
    assert torch.equal(kept, mel_to_linear(mel, kernels.mel_basis))
    settings = dict(n_fft=512, hop_length=128, length=clips.shape[1], n_iter=4)
    rebuilt = [griffinlim(kept, generator=torch.Generator().manual_seed(0),
                          window=window, **settings)
               for window in (kernels.window, None)]
    assert torch.equal(*rebuilt)


def test_a_pickled_transformer_leaves_its_kernels_behind(clips):
    spec = SpectrogramTransformer(n_iter=2, device="cpu").fit(clips)
    S = spec.transform(clips)
    before = spec.inverse_transform(S)
    assert "_kernels" in vars(spec)
    loaded = pickle.loads(pickle.dumps(spec))
    assert "_kernels" not in vars(loaded)
    assert "_kernels" in vars(spec), "pickling dropped the original's kernels"
    np.testing.assert_array_equal(loaded.inverse_transform(S), before)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_row_methods_match_transform(clips, dtype):
    spec = SpectrogramTransformer(n_mels=24, device="cpu").fit(clips)
    rows = torch.as_tensor(np.asarray(spec.transform(clips)), dtype=dtype)
    log_magnitude = spec.denormalise(rows)
    assert log_magnitude.dtype == dtype
    expected = rows.numpy().astype(np.float64) * spec.scale_[:, None] + (
        spec.mean_[:, None])
    np.testing.assert_allclose(log_magnitude.numpy(), expected, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(spec.normalise(log_magnitude), rows)


def test_from_magnitude_inverts_magnitude(clips):
    # Linear rows: the mel projection's inverse is only a least-squares one.
    spec = SpectrogramTransformer(device="cpu").fit(clips)
    rows = torch.as_tensor(np.asarray(spec.transform(clips)))
    torch.testing.assert_close(spec.from_magnitude(spec.magnitude(rows)), rows,
                               atol=1e-3, rtol=0)


def test_silent_frames_on_tensors_and_arrays_agree():
    clip = np.zeros(8192, dtype=np.float32)
    clip[4096:] = np.sin(np.arange(4096) * 0.2)
    spec = SpectrogramTransformer(device="cpu").fit(clip)
    rows = np.asarray(spec.transform(clip))
    mask = spec.silent_frames(rows)
    assert mask[:10].all() and not mask[-10:].any()
    assert torch.equal(spec.silent_frames(torch.as_tensor(rows)), torch.as_tensor(mask))


def test_frozen_gives_each_parameter_its_flag_back_after_an_error():
    judge = torch.nn.Linear(2, 2)
    judge.bias.requires_grad_(False)
    with pytest.raises(RuntimeError, match="inside"):
        with frozen(judge):
            assert not judge.weight.requires_grad
            raise RuntimeError("inside")
    assert judge.weight.requires_grad and not judge.bias.requires_grad
