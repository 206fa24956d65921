"""Progress: bars for long steps (training, keygen, proving) and a sweep's "[k/N]" position.

Bars go to stderr on a terminal; in logs and CI (no TTY) they stay quiet unless NESABENCH_PROGRESS=1.
The sweep position is logged by the runner at the start and end of every cell, always.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import OmegaConf
from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, **kwargs) -> tqdm:
    forced = os.environ.get("NESABENCH_PROGRESS")
    disable = (forced == "0") if forced is not None else not sys.stderr.isatty()
    return tqdm(items, desc=desc, disable=disable, leave=False, dynamic_ncols=True, **kwargs)


@dataclass(frozen=True)
class SweepPosition:
    """Where a job stands in its sweep, for the "[k/N] elapsed" line a long sweep prints per cell."""

    index: int  # 1-based job number
    total: int | None  # jobs in the sweep (None: unknown)
    elapsed_s: float | None  # since the sweep started (None: unknown)

    def tag(self) -> str:
        """``[k/N]`` (``[k]`` when the size is unknown)."""
        return f"[{self.index}/{self.total}]" if self.total else f"[{self.index}]"

    def status(self, done: int | None = None) -> str:
        """How many jobs come after this one and how long the sweep has run; given how many jobs are
        ``done``, also a rough time to the end: the mean job so far times the jobs still to run."""
        parts = [f"{self.total - self.index} left after this"] if self.total else []
        if self.elapsed_s is not None:
            parts.append(f"sweep elapsed {duration(self.elapsed_s)}")
            if done and self.total and done < self.total:
                eta = self.elapsed_s / done * (self.total - done)
                parts.append(f"about {duration(eta)} to go at the mean job so far")
        return ", ".join(parts)


def duration(seconds: float) -> str:
    """1h02m, 4m05s, 12.3s: the units a person reads a run's length in."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{seconds:.1f}s"


def sweep_size(overrides: list[str], params: dict[str, Any] | None) -> int:
    """Jobs in a sweep as Hydra's basic sweeper makes them: the config's ``hydra.sweeper.params``,
    replaced key by key by the command line's sweeps, multiplied out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{k}={v}" for k, v in (params or {}).items()] + list(overrides)
    sizes: dict[str, int] = {}
    for o in OverridesParser.create().parse_overrides(lines):
        sizes[o.get_key_element()] = len(list(o.sweep_string_iterator())) if o.is_sweep_override() else 1
    return math.prod(sizes.values())


def sweep_position() -> SweepPosition | None:
    """This job's place in its Hydra sweep (None outside a multirun).

    The sweeper saves ``multirun.yaml`` (the command line and the sweep) in the sweep folder before
    the first job starts: its overrides give the sweep's size and its time the sweep's start, for
    the basic launcher as for joblib or SLURM workers (the folder is shared with them).
    """
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode is None or hc.mode.name != "MULTIRUN":
        return None
    index = int(hc.job.num) + 1
    saved = Path(hc.sweep.dir) / "multirun.yaml"
    try:
        sweep = OmegaConf.load(saved)
        params = sweep.hydra.sweeper.get("params")
        total = sweep_size(list(sweep.hydra.overrides.task),
                           OmegaConf.to_container(params, resolve=False) if params is not None else None)
        elapsed = max(0.0, time.time() - saved.stat().st_mtime)
    except Exception:  # progress is a courtesy: an unreadable file shows the index only
        total, elapsed = None, None
    return SweepPosition(index=index, total=total, elapsed_s=elapsed)
