"""Writing files whole or not at all."""

import contextlib
import os
import secrets
import stat
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` and rename it to ``path`` after.

    Whatever the body writes to the temporary path replaces ``path`` in one
    ``os.replace`` when the body returns, so a reader never sees half a file
    and a write that fails (a full disk, a format that cannot hold the data,
    Ctrl-C) leaves the old file as it was; the temporary file is then removed.
    The temporary name is hidden and ends in ``.tmp``: writers that pick a
    format from the extension must be told the format, or given an open file.

    Examples
    --------
    >>> import tempfile
    >>> from sktimbre._atomic import atomic_path
    >>> folder = tempfile.TemporaryDirectory()
    >>> with atomic_path(f"{folder.name}/notes.txt") as temporary:
    ...     _ = temporary.write_text("all or nothing")
    >>> open(f"{folder.name}/notes.txt").read()
    'all or nothing'
    >>> folder.cleanup()
    """
    path = Path(path)
    if path.is_symlink():
        # Write through the link, as open() would, instead of replacing it.
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder, so the rename never crosses file systems.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        if path.exists():
            # A replaced file keeps its permissions.
            os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
