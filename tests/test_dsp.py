"""The torch signal processing under the spectrogram transformer."""

import pytest
import torch

from sktimbre._dsp import InverseSTFT, griffinlim, istft, stft


def _reference_istft(spec, n_fft, hop_length, win_length, length):
    return torch.istft(spec, n_fft=n_fft, hop_length=hop_length,
                       win_length=win_length, window=torch.hann_window(win_length),
                       center=True, length=length)


@pytest.mark.parametrize("n_fft, hop_length, win_length", [
    (1024, 256, 1024), (1024, 256, 800), (2048, 512, 2048), (1024, 300, 1024),
    (512, 128, 512)])
@pytest.mark.parametrize("extra", [0, -300, 200])
def test_inverse_stft_matches_torch(n_fft, hop_length, win_length, extra):
    audio = torch.randn(2, 3, 20000, generator=torch.Generator().manual_seed(0))
    window = torch.hann_window(win_length)
    spec = stft(audio, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                window=window)
    length = audio.shape[-1] + extra
    ours = istft(spec, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                 length=length, window=window)
    theirs = _reference_istft(spec.reshape(-1, *spec.shape[-2:]), n_fft, hop_length,
                              win_length, length).reshape(2, 3, length)
    assert ours.shape == (2, 3, length)
    torch.testing.assert_close(ours, theirs, atol=2e-6, rtol=0)
    if extra <= 0:
        torch.testing.assert_close(ours, audio[..., :length], atol=2e-6, rtol=0)


def test_inverse_stft_past_the_last_frame_is_silence():
    # torch.istft refuses a length past the window's reach; the frames
    # simply end there.
    spec = stft(torch.randn(5000), n_fft=1024, hop_length=256, win_length=800)
    inverse = InverseSTFT(spec.shape[-1], n_fft=1024, hop_length=256,
                          win_length=800, length=7000,
                          window=torch.hann_window(800))
    audio = inverse(spec)
    assert audio.shape == (7000,) and torch.isfinite(audio).all()
    assert torch.count_nonzero(audio[5600:]) == 0


def test_inverse_stft_rejects_a_hop_that_leaves_gaps():
    with pytest.raises(ValueError, match="hop_length of at most half"):
        InverseSTFT(10, n_fft=512, hop_length=600, length=5000,
                    window=torch.hann_window(512))


def test_griffinlim_from_the_true_phase_returns_the_audio():
    audio = torch.randn(8000, generator=torch.Generator().manual_seed(1))
    spec = stft(audio, n_fft=512, hop_length=128)
    for n_iter in (0, 8):
        out = griffinlim(spec.abs(), n_fft=512, hop_length=128, length=8000,
                         n_iter=n_iter, init_phase=spec.angle())
        torch.testing.assert_close(out, audio, atol=1e-4, rtol=0)
