"""TimbreVAE(pitch_table=True): each timbre's offsets per semitone."""

import numpy as np
import pytest
import torch

from sktimbre import TimbreVAE
from sktimbre._pitch_table import LOWEST_NOTE, N_NOTES, PitchTable, pitch_offsets

from .timbre_models import one_torch_thread, short_pair, tiny  # noqa: F401

A4 = 69 - LOWEST_NOTE  # the table's row of A4 (440 Hz, pitch 0)


@pytest.fixture(scope="module")
def pair():
    return short_pair()


def test_a_new_table_adds_nothing():
    table = PitchTable(code_dim=4, n_outputs=3)
    pitch = torch.linspace(-3, 3, 50)[None]
    assert torch.equal(table(pitch, torch.randn(1, 4)), torch.zeros(1, 3, 50))


def test_offsets_are_the_semitones_rows_and_linear_between():
    table = torch.arange(N_NOTES * 2, dtype=torch.float32).reshape(1, N_NOTES, 2)
    # A4, a quarter tone above it, A#4, far below and far above the table.
    pitch = torch.tensor([[0.0, 0.5 / 12, 1 / 12, -10.0, 10.0]])
    offsets = pitch_offsets(table, pitch, float(LOWEST_NOTE))
    assert offsets.shape == (1, 2, 5)
    expected = torch.stack([table[0, A4], (table[0, A4] + table[0, A4 + 1]) / 2,
                            table[0, A4 + 1], table[0, 0], table[0, -1]], dim=1)
    torch.testing.assert_close(offsets[0], expected)


def test_the_table_is_linear_in_the_code():
    # The code is linear in alpha, so alpha 0.5 reads the mean of the two
    # timbres' tables: one table, not two voices.
    torch.manual_seed(0)
    table = PitchTable(code_dim=4, n_outputs=3)
    torch.nn.init.normal_(table.rows.weight)
    torch.nn.init.normal_(table.rows.bias)
    ends = torch.randn(2, 4)
    pitch = torch.linspace(-1, 1, 7)[None]
    middle = table(pitch, ends.mean(0, keepdim=True))
    ends_mean = (table(pitch, ends[:1]) + table(pitch, ends[1:])) / 2
    torch.testing.assert_close(middle, ends_mean)


def test_a_batch_of_codes_reads_one_table_each():
    torch.manual_seed(0)
    table = PitchTable(code_dim=4, n_outputs=3)
    torch.nn.init.normal_(table.rows.weight)
    codes, pitch = torch.randn(2, 4), torch.randn(2, 6) * 0.5
    both = table(pitch, codes)
    for i in range(2):
        torch.testing.assert_close(both[i:i + 1], table(pitch[i:i + 1], codes[i:i + 1]))


def test_off_by_default_and_learnt_when_asked(pair):
    assert TimbreVAE().pitch_table is False
    plain = tiny(TimbreVAE).fit(*pair)
    assert plain.decoder_.pitch_table is None
    model = tiny(TimbreVAE, pitch_table=True).fit(*pair)
    learnt = model.decoder_.pitch_table.rows
    assert learnt.weight.abs().max() > 0 and learnt.bias.abs().max() > 0
    # Only the semitones the clips play (and their neighbours) are moved.
    rows = learnt.bias.detach().reshape(N_NOTES, -1).abs().amax(dim=1)
    assert rows[:12].max() == 0 and rows[-12:].max() == 0
    out = model.transform(pair[0][0], alpha=1.0)
    assert out.shape == pair[0][0].shape and np.isfinite(out).all()


def test_a_fit_with_a_table_is_reproducible_and_round_trips(pair, tmp_path):
    first = tiny(TimbreVAE, pitch_table=True).fit(*pair)
    second = tiny(TimbreVAE, pitch_table=True).fit(*pair)
    converted = first.transform(pair[1][0], alpha=0.0)
    np.testing.assert_array_equal(converted, second.transform(pair[1][0], alpha=0.0))
    loaded = TimbreVAE.load(first.save(tmp_path / "table.skt"))
    assert loaded.pitch_table is True
    np.testing.assert_array_equal(loaded.transform(pair[1][0], alpha=0.0), converted)


def test_a_table_is_a_boolean(pair):
    with pytest.raises(ValueError, match="pitch_table"):
        TimbreVAE(pitch_table="yes").fit(*pair)


def test_a_decoder_pickled_before_the_table_existed_still_decodes():
    import pickle

    from sktimbre._nn import FiLMDecoder

    decoder = FiLMDecoder(n_inputs=5, hidden=8, code_dim=4, n_outputs=6)
    state = decoder.__getstate__()
    state["_modules"] = {k: v for k, v in state["_modules"].items()
                         if k != "pitch_table"}
    older = FiLMDecoder.__new__(FiLMDecoder)
    older.__setstate__(state)
    older = pickle.loads(pickle.dumps(older))
    inputs, code = torch.randn(1, 5, 12), torch.randn(1, 4)
    assert older.pitch_table is None
    torch.testing.assert_close(older(inputs, code), decoder(inputs, code))
