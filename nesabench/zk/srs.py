"""Structured reference strings made locally with ``ezkl.gen_srs``, cached by logrows.

Never ``ezkl.get_srs``: it downloads, and deletes a local SRS whose hash it does not know. A
locally generated SRS is fine for measuring cost; it is not a trusted setup.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import ezkl


@dataclass(frozen=True)
class Srs:
    path: Path
    logrows: int
    gen_s: float  # seconds gen_srs took when the file was made (measured then, kept in a sidecar)
    from_cache: bool


def srs_dir(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "srs"


def get_or_make_srs(cache_dir: str | Path, logrows: int) -> Srs:
    """The SRS for ``logrows`` under ``cache_dir/srs``, generated (and timed) on first use."""
    folder = srs_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kzg{logrows}.srs"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return Srs(path, logrows, float(json.loads(meta.read_text())["gen_s"]), True)
    tmp = folder / f".kzg{logrows}.{os.getpid()}.tmp"
    t0 = time.perf_counter()
    ezkl.gen_srs(str(tmp), logrows)
    gen_s = time.perf_counter() - t0
    os.replace(tmp, path)
    meta_tmp = folder / f".kzg{logrows}.{os.getpid()}.json.tmp"
    meta_tmp.write_text(json.dumps({"logrows": logrows, "gen_s": gen_s, "ezkl": ezkl.__version__}))
    os.replace(meta_tmp, meta)
    return Srs(path, logrows, gen_s, False)
