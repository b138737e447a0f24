"""Text the ``sktimbre`` command writes: files replaced whole, and strings
made safe to print."""

from ._atomic import atomic_path


def write_text(path, text):
    """Write ``text`` to ``path`` whole or not at all (UTF-8)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def printable(text):
    """``text`` with control and other non-printable characters escaped, so
    that a string read from a file cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
