"""Files the benchmark writes (records, tables, cached models) are readable by collaborators."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nesabench.atomic import atomic_write_bytes, atomic_write_text


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_get_the_mode_open_would_give(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        text = atomic_write_text(tmp_path / "record.json", "{}")
        blob = atomic_write_bytes(tmp_path / "model.pt", b"\0")
        with open(tmp_path / "plain.txt", "w") as fh:
            fh.write("reference")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for path in (text, blob, tmp_path / "plain.txt"):
        assert stat.S_IMODE(path.stat().st_mode) == expected, oct(stat.S_IMODE(path.stat().st_mode))
    assert text.read_text() == "{}"


def test_records_are_world_readable_under_the_usual_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "runs" / "r.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
