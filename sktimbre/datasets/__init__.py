"""Data sets: the built-in rendered violin and flute, and a MusicNet reader."""

from ._default import load_default, render_notes

__all__ = ["load_default", "render_notes"]
