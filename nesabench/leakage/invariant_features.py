"""Permutation-invariant features of a view: what survives any secret per-query coordinate shuffle.

Sorting each vector along the permuted axis and keeping its norm and sparsity gives features a
fresh permutation cannot hide; probing them lower-bounds what any permuted view leaks.
"""

from __future__ import annotations

import numpy as np


def sorted_rows(sample: np.ndarray, axis: int = -1) -> np.ndarray:
    """Values sorted along ``axis``: identical for every permutation of that axis."""
    return np.sort(np.asarray(sample, dtype=np.float64), axis=axis)


def invariant_features(samples: list[np.ndarray], axis: int = -1) -> np.ndarray:
    """Per sample: sorted values (all rows along ``axis``), L2 norm and fraction of near-zeros."""
    rows = []
    for s in samples:
        s = np.asarray(s, dtype=np.float64)
        srt = sorted_rows(s, axis).ravel()
        rows.append(np.concatenate([srt, [np.linalg.norm(s), float(np.mean(np.abs(s) < 1e-6))]]))
    width = max(len(r) for r in rows)
    out = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def invariant_samples(samples: list[np.ndarray], axis: int = -1) -> list[np.ndarray]:
    """Samples sorted along ``axis``, shape kept (for the position-aligned token probe)."""
    return [sorted_rows(s, axis) for s in samples]
