"""Each timbre's learnt offset to the synthesiser controls, per semitone.

A decoder reads pitch as one number and must turn it into the whole shape of
a note's spectrum. Where that shape changes from note to note (a violin's
strings, the sample zones of a soundfont, a flute's registers), a
convolution over that one number renders a smoothed average of it.
:class:`PitchTable` gives the decoder a lookup instead: for each semitone
over the range below, an offset to every control (harmonic and noise
levels, natural-log units), linear in the timbre code, so that alpha still
slides along one path between two tables, and linear in pitch between
semitones, so that a glide or a vibrato moves the offset smoothly.
"""

import torch
from torch import nn

__all__ = ["PitchTable", "pitch_offsets"]

# MIDI notes the table spans: E1 (41 Hz) to E8 (5274 Hz), beyond the
# range of either instrument; a pitch outside it reads the nearest end.
LOWEST_NOTE = 28
N_NOTES = 85


class PitchTable(nn.Module):
    """Offsets ``(batch, n_outputs, frames)`` to a decoder's controls, looked
    up by each frame's pitch from a table that the timbre code sets.

    The table starts at zero, so a new decoder renders as it would without
    one; training moves only the semitones that the clips play.

    Parameters
    ----------
    code_dim : int
        Size of the timbre code (see :class:`~sktimbre._nn.TimbreCode`).
    n_outputs : int
        Controls per frame.

    Examples
    --------
    >>> import torch
    >>> from sktimbre._pitch_table import PitchTable
    >>> table = PitchTable(code_dim=4, n_outputs=3)
    >>> pitch = torch.zeros(2, 10)  # log2(f0 / 440): A4
    >>> table(pitch, torch.zeros(1, 4)).shape
    torch.Size([2, 3, 10])
    """

    def __init__(self, code_dim, n_outputs):
        super().__init__()
        self.n_outputs = n_outputs
        self.lowest_note = float(LOWEST_NOTE)
        self.n_notes = N_NOTES
        self.rows = nn.Linear(code_dim, N_NOTES * n_outputs)
        nn.init.zeros_(self.rows.weight)
        nn.init.zeros_(self.rows.bias)

    def table(self, code):
        """The table of a code ``(batch or 1, code_dim)``:
        ``(batch or 1, N_NOTES, n_outputs)``."""
        return self.rows(code).reshape(-1, self.n_notes, self.n_outputs)

    def forward(self, pitch, code):
        """``pitch`` (batch, frames) as log2(f0 / 440); ``code`` (batch or 1,
        code_dim)."""
        return pitch_offsets(self.table(code), pitch, self.lowest_note)


def pitch_offsets(table: torch.Tensor, pitch: torch.Tensor,
                  lowest_note: float) -> torch.Tensor:
    """Rows of ``table`` (batch or 1, n_notes, n_outputs), row 0 at MIDI
    note ``lowest_note``, at ``pitch`` (batch, frames; log2(f0 / 440)),
    linear between semitones: ``(batch, n_outputs, frames)``."""
    last = float(table.shape[1] - 1)
    note = (69.0 + 12.0 * pitch - lowest_note).clamp(0.0, last)
    below = note.floor().clamp(max=last - 1.0)
    above_weight = (note - below)[:, :, None]
    index = below.long()[:, :, None].expand(-1, -1, table.shape[-1])
    table = table.expand(pitch.shape[0], -1, -1)
    low = torch.gather(table, 1, index)
    high = torch.gather(table, 1, index + 1)
    return (low + above_weight * (high - low)).transpose(1, 2)
