"""Ciphertext-only recovery of a fixed coordinate permutation from per-coordinate statistics.

The attacker runs the PUBLIC model on its own data, describes every hidden coordinate by its
statistics (mean, std, quantiles, sparsity, skew), does the same for the coordinates of the
permuted activations it observes, and matches the two sets with linear_sum_assignment. No pair of
plaintext and permuted activations is needed. Leakage (target "model") = fraction of the key
recovered; the un-permuted activations then feed the ordinary probes.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from nesabench.leakage.key_recovery import rows_along

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def coordinate_statistics(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """(d, k) description of each coordinate along ``axis`` over all rows of ``x``."""
    r = rows_along(x, axis)
    mean, std = r.mean(0), r.std(0) + 1e-12
    z = (r - mean) / std
    return np.column_stack([
        mean, std, *np.quantile(r, QUANTILES, axis=0),
        (np.abs(r) < 1e-6).mean(0), (z**3).mean(0), np.abs(r).max(0),
    ])


def match_coordinates(reference: np.ndarray, observed: np.ndarray, axis: int = -1) -> np.ndarray:
    """key[j] = public-model coordinate matched to observed coordinate j."""
    ref, obs = coordinate_statistics(reference, axis), coordinate_statistics(observed, axis)
    scale = ref.std(0) + 1e-12  # put every statistic on the reference's scale across coordinates
    ref, obs = ref / scale, obs / scale
    cost = ((obs[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    key = np.empty(ref.shape[0], dtype=np.int64)
    key[rows] = cols
    return key
