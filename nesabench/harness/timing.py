"""Warm-up, then repeated timing of single calls with a monotonic high-resolution clock.

The loop does nothing between the two clock reads but the call itself: inputs are sliced before
timing starts, and durations go into a preallocated list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class TimingStats:
    p50: float
    p95: float
    mean: float
    std: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> TimingStats:
        if len(seconds) == 0:
            raise ValueError("no timings to summarize")
        a = np.asarray(seconds, dtype=float)
        return cls(
            p50=percentile(a, 50), p95=percentile(a, 95), mean=float(a.mean()),
            std=float(a.std(ddof=1)) if len(a) > 1 else 0.0, min=float(a.min()),
            max=float(a.max()), n=len(a),
        )

    def as_record(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_{k}{'' if k == 'n' else '_s'}": v for k, v in asdict(self).items()}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must lie in [0, 100], got {q}")
    if len(values) == 0:
        raise ValueError("percentile of no values")
    return float(np.percentile(np.asarray(values, dtype=float), q))


def time_calls(
    fn: Callable[[Any], Any], batches: Sequence[Any], warmup: int, repeats: int
) -> list[float]:
    """Seconds for each of ``repeats`` calls of ``fn`` on ``batches`` in turn, after ``warmup`` calls."""
    if not batches:
        raise ValueError("time_calls needs at least one batch")
    n = len(batches)
    clock = time.perf_counter
    out = [0.0] * repeats
    with torch.no_grad():
        for i in range(warmup):
            fn(batches[i % n])
        for i in range(repeats):
            b = batches[i % n]
            t0 = clock()
            fn(b)
            out[i] = clock() - t0
    return out


def slowdown(latency_s: float | None, reference_s: float | None) -> float | None:
    """Ratio of a technique's latency to the plaintext reference measured in the same run."""
    if latency_s is None or reference_s is None:
        return None
    if reference_s <= 0:
        raise ValueError(f"reference latency must be positive, got {reference_s}")
    return latency_s / reference_s
