"""Data sets: the built-in rendered violin and flute, and a MusicNet reader."""

from ._default import load_default, render_notes
from ._musicnet import load_musicnet

__all__ = ["load_default", "load_musicnet", "render_notes"]
