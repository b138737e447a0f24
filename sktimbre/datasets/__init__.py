"""Data sets: the built-in violin and flute (rendered from two soundfonts, dry
or recorded in a simulated room), and a MusicNet reader."""

from ._default import load_default, render_notes
from ._musicnet import load_musicnet

__all__ = ["load_default", "load_musicnet", "render_notes"]
