"""Atomic file writes: a reader never sees half a record or half a cached model.

``mkstemp`` creates its file mode 0600; records, tables and cached models are shared with
collaborators, so the written file gets the mode an ordinary ``open`` would give it (0666 minus
the process umask: 0644 under the usual umask 022).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Mode of a new file before the umask is applied, as for ``open(path, "w")``.
NEW_FILE_MODE = 0o666


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), NEW_FILE_MODE & ~current_umask())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())
