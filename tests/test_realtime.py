"""Streaming conversion: a stream equals the offline conversion, delayed."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from sktimbre import SpectrogramTransformer, TimbreCycleGAN, TimbreVAE
from sktimbre._realtime import stream_delay

from .timbre_models import one_torch_thread, short_pair, tiny  # noqa: F401

SR = 22050
# Float rounding of the two paths (a matrix f0 tracker against a loop of
# gathers, float64 phases summed per block against per 128 frames) stays
# below this, in units of full scale; a lost frame or sample is ~0.1.
TOLERANCE = 2e-4


@pytest.fixture(scope="module")
def pair():
    return short_pair(n_clips=2, seconds=0.5)


@pytest.fixture(scope="module")
def vae(pair):
    return tiny(TimbreVAE, synthesis="additive", keep_detail=0.0).fit(*pair)


@pytest.fixture(scope="module")
def causal_vae(pair):
    # Counting frames since each note began (off by default when causal)
    # reads no later frame either, and streams as it converts offline.
    return tiny(TimbreVAE, synthesis="additive", keep_detail=0.0,
                causal=True, note_frames=8).fit(*pair)


def _piece(pair, n_samples):
    """Violin, a rest of digital silence, flute: ``n_samples`` of them."""
    a, b = pair
    piece = np.concatenate([a[0], np.zeros(2000, np.float32), b[1], a[1]])
    return piece[:n_samples]


def _streamed(streamer, piece):
    """The stream's output for ``piece``, padded with zeros to whole blocks."""
    size = streamer.block_size
    padded = np.concatenate([piece, np.zeros(-len(piece) % size, np.float32)])
    return np.concatenate([streamer.process(padded[i:i + size])
                           for i in range(0, len(padded), size)])


def _assert_delayed_copy(streamed, offline, delay):
    """``streamed`` is silence for ``delay`` samples, then ``offline``."""
    assert np.all(streamed[:delay] == 0)
    overlap = min(len(streamed), len(offline) + delay) - delay
    assert overlap > SR // 4, "too short a piece to compare"
    # The offline frames near the piece's end read the STFT's end padding,
    # which a stream that goes on never sees.
    settled = len(offline) - 1024 - delay if len(streamed) >= len(offline) else overlap
    np.testing.assert_allclose(streamed[delay:delay + settled], offline[:settled],
                               atol=TOLERANCE, rtol=0)
    assert np.abs(offline[:settled]).max() > 0.01


@pytest.mark.parametrize(("block_size", "n_samples"), [
    (256, 30000), (512, 25600), (2048, 36864), (300, 33000), (512, 41000)])
def test_stream_equals_offline_conversion_delayed(vae, pair, block_size, n_samples):
    piece = _piece(pair, n_samples)
    offline = vae.transform(piece, alpha=0.7, source="A")
    streamer = vae.stream(block_size=block_size, alpha=0.7, source="A")
    _assert_delayed_copy(_streamed(streamer, piece), offline,
                         streamer.lookahead_samples)


def test_stream_with_a_pitch_table_equals_offline(pair):
    # The table's offsets are looked up by the f0 of the frames the decoder
    # gives out, which lag the frames that come in; a new alpha sets a new
    # table.
    model = tiny(TimbreVAE, synthesis="additive", keep_detail=0.0,
                 pitch_table=True).fit(*pair)
    assert model.decoder_.pitch_table.rows.weight.abs().max() > 0
    piece = _piece(pair, 30000)
    for alpha, source in ((0.7, "A"), (0.0, "B")):
        offline = model.transform(piece, alpha=alpha, source=source)
        streamer = model.stream(block_size=512, alpha=alpha, source=source)
        _assert_delayed_copy(_streamed(streamer, piece), offline,
                             streamer.lookahead_samples)


def test_stream_from_instrument_b(vae, pair):
    piece = _piece(pair, 30000)
    offline = vae.transform(piece, alpha=0.2, source="B")
    streamer = vae.stream(block_size=512, alpha=0.2, source=1)
    _assert_delayed_copy(_streamed(streamer, piece), offline,
                         streamer.lookahead_samples)


@pytest.mark.parametrize("block_size", [256, 300, 512, 2048])
def test_causal_stream_is_low_latency_and_exact(causal_vae, pair, block_size):
    streamer = causal_vae.stream(block_size=block_size, alpha=0.6, source="A")
    assert streamer.lookahead_samples / SR <= 0.050
    assert streamer.latency_samples == streamer.lookahead_samples + block_size
    assert streamer.latency_ms == pytest.approx(
        1000 * streamer.latency_samples / SR)
    piece = _piece(pair, 30000)
    offline = causal_vae.transform(piece, alpha=0.6, source="A")
    _assert_delayed_copy(_streamed(streamer, piece), offline,
                         streamer.lookahead_samples)


def test_latency_is_lookahead_plus_one_block(vae, pair):
    # 49 frames of lookahead (the decoder's 16 on top of the note's
    # position, 33, which reads further than the encoder, 9), half an STFT
    # window, the synthesiser's half window, less the hop that a block
    # boundary on a frame boundary saves.
    assert vae.stream(block_size=512, source="A").lookahead_samples == (
        49 * 256 + 512 + 512 - 256)
    # Without it, the encoder's 9 frames and the decoder's 16.
    without_notes = tiny(TimbreVAE, synthesis="additive", keep_detail=0.0,
                         note_frames=0).fit(*pair)
    assert without_notes.stream(block_size=512, source="A").lookahead_samples == (
        25 * 256 + 512 + 512 - 256)
    streamer = vae.stream(block_size=2048, source="A")
    assert streamer.latency_samples == streamer.lookahead_samples + 2048


def test_stream_delay_is_the_least_that_never_runs_dry():
    settings = dict(n_fft=1024, hop_length=256, lag_frames=3, synth_latency=512)
    for block_size in (64, 256, 300, 1000):
        delay = stream_delay(block_size=block_size, **settings)
        # One sample less and some block would be due before it is made.
        for call in range(1, 200):
            received = call * block_size
            frames = max(0, (received - 512) // 256 + 1)
            played = max(0, (frames - 3) * 256 - 512)
            assert delay + played >= received
        assert any(delay - 1 + max(0, (max(0, (c * block_size - 512) // 256 + 1) - 3)
                                   * 256 - 512) < c * block_size
                   for c in range(1, 200))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_stream_on_a_gpu_equals_the_cpu_stream(pair):
    model = tiny(TimbreVAE, synthesis="additive", keep_detail=0.0,
                 device="cuda").fit(*pair)
    piece = _piece(pair, 20480)
    on_gpu = _streamed(model.stream(block_size=512, source="A"), piece)
    model.device_ = torch.device("cpu")
    on_cpu = _streamed(model.stream(block_size=512, source="A"), piece)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=TOLERANCE, rtol=0)


def test_reset_restores_the_initial_state(vae, pair):
    piece = _piece(pair, 12800)
    streamer = vae.stream(block_size=512, alpha=0.4, source="A")
    fresh = {k: v.clone() for k, v in streamer.module.state_dict().items()}
    first = _streamed(streamer, piece)
    assert any(not torch.equal(fresh[k], v) for k, v in
               streamer.module.state_dict().items() if fresh[k].shape == v.shape)
    streamer.reset()
    after = streamer.module.state_dict()
    assert fresh.keys() == after.keys()
    assert all(torch.equal(fresh[k], after[k]) for k in fresh)
    np.testing.assert_array_equal(_streamed(streamer, piece), first)


def test_alpha_set_between_blocks(vae, pair):
    direct = vae.stream(block_size=512, alpha=0.3, source="A")
    # Long enough to come out of the stream's delay.
    piece = _piece(pair, direct.lookahead_samples + 10240)
    switched = vae.stream(block_size=512, alpha=0.9, source="A")
    switched.alpha = 0.3
    np.testing.assert_allclose(_streamed(switched, piece), _streamed(direct, piece),
                               atol=1e-6)
    # The switch did something: alpha 0.9 throughout sounds otherwise.
    other = vae.stream(block_size=512, alpha=0.9, source="A")
    direct.reset()
    assert np.abs(_streamed(other, piece) - _streamed(direct, piece)).max() > 1e-3


@pytest.mark.parametrize(("block", "error", "match"), [
    (np.zeros(511, np.float32), ValueError, "block_size=512"),
    (np.zeros((2, 512), np.float32), ValueError, "mono"),
    (np.full(512, np.nan, np.float32), ValueError, "NaN"),
    (np.zeros(512, np.int16), TypeError, "integer"),
])
def test_bad_blocks_are_refused(vae, block, error, match):
    streamer = vae.stream(block_size=512, source="A")
    with pytest.raises(error, match=match):
        streamer.process(block)


def test_bad_stream_settings_are_refused(vae):
    with pytest.raises(ValueError, match="alpha"):
        vae.stream(block_size=512, alpha=1.5, source="A")
    streamer = vae.stream(block_size=512, source="A")
    with pytest.raises(ValueError, match="alpha"):
        streamer.alpha = -0.1
    with pytest.raises(ValueError, match="block_size"):
        vae.stream(block_size=0, source="A")
    with pytest.raises(ValueError, match="source"):
        vae.stream(block_size=512, source="oboe")
    with pytest.raises(ValueError, match="source"):
        vae.stream(block_size=512, source=2.0)
    with pytest.raises(ValueError, match="source"):
        vae.transform(np.zeros(4096, np.float32), source="oboe")


def test_unfitted_model_cannot_stream():
    with pytest.raises(NotFittedError):
        TimbreVAE().stream(block_size=512, source="A")


def test_cyclegan_says_it_cannot_stream(pair):
    with pytest.raises(NotImplementedError, match="synthesiser"):
        TimbreCycleGAN().stream(block_size=512, source="A")


def test_mel_model_cannot_stream(pair):
    model = tiny(TimbreVAE, spectrogram=SpectrogramTransformer(n_mels=32)).fit(*pair)
    with pytest.raises(ValueError, match="n_mels=None"):
        model.stream(block_size=512, source="A")


def test_causal_networks_read_no_later_frame(causal_vae, pair):
    S = causal_vae.spectrogram_.transform(_piece(pair, 20000))
    changed = S.copy()
    changed[:, 40:] += 1.0
    # The source given, as a stream gives it: nothing is read from the
    # whole clip, so only the networks could carry the change back.
    converted = np.asarray(causal_vae.transform(S, alpha=0.5, source="A"))
    later = np.asarray(causal_vae.transform(changed, alpha=0.5, source="A"))
    # To float rounding: the convolutions' kernels tile the frames their own way.
    np.testing.assert_allclose(later[:, :40], converted[:, :40], atol=1e-5)
    assert np.abs(later[:, 40:] - converted[:, 40:]).max() > 0.1


def test_causal_model_converts_in_chunks_exactly_and_persists(causal_vae, pair,
                                                              tmp_path):
    from sklearn.base import clone

    S = causal_vae.spectrogram_.transform(_piece(pair, 20000))
    whole = np.asarray(causal_vae.transform(S, alpha=0.7))
    chunked = clone(causal_vae).set_params(chunk_frames=16)
    chunked.__dict__.update({k: v for k, v in causal_vae.__dict__.items()
                             if k.endswith("_")})
    np.testing.assert_array_equal(np.asarray(chunked.transform(S, alpha=0.7)), whole)
    causal_vae.save(tmp_path / "causal.skt")
    loaded = TimbreVAE.load(tmp_path / "causal.skt")
    assert loaded.causal is True
    np.testing.assert_array_equal(np.asarray(loaded.transform(S, alpha=0.7)), whole)


@pytest.mark.parametrize("middle, dropout", [(0.5, 0.5), (0.2, 0.5), (0.5, 1.0)],
                         ids=["equal steps", "spaced", "never shown"])
def test_stream_with_a_faded_latent_equals_offline(pair, middle, dropout):
    # Alpha 0.3 from A reads the latent at weight 0.4, alpha 0.5 and 0.9 not
    # at all; a latent never shown in training is never read. Spaced, the
    # code follows alpha_curve_ and the latent's weight the alpha asked for,
    # offline and streamed alike.
    model = tiny(TimbreVAE, synthesis="additive", keep_detail=0.0,
                 latent_dropout=dropout).fit(*pair)
    model.alpha_curve_ = np.tile(np.interp(np.linspace(0, 1, 11), [0, 0.5, 1],
                                           [0, middle, 1]), (2, 1))
    piece = _piece(pair, 25600)
    for alpha in (0.3, 0.5, 0.9):
        offline = model.transform(piece, alpha=alpha, source="A")
        streamer = model.stream(block_size=512, alpha=alpha, source="A")
        _assert_delayed_copy(_streamed(streamer, piece), offline,
                             streamer.lookahead_samples)
