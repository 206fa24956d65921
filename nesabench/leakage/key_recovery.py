"""Known-plaintext key recovery for a fixed coordinate permutation (argsort / assignment matching).

With one (plain, permuted) pair, sorting both vectors aligns their coordinates; with several pairs,
the columns are matched by minimum total distance (linear_sum_assignment), which also resolves ties
such as ReLU zeros. Leakage (target "model") = fraction of coordinates recovered.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def rows_along(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Samples as rows of vectors along the permuted axis: (..., d) -> (m, d)."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    return x.reshape(-1, x.shape[-1])


def argsort_key(plain: np.ndarray, permuted: np.ndarray) -> np.ndarray:
    """From ONE pair: key[j] = plain coordinate that landed at permuted coordinate j."""
    key = np.empty(len(plain), dtype=np.int64)
    key[np.argsort(permuted, kind="stable")] = np.argsort(plain, kind="stable")
    return key


def matching_key(plain: np.ndarray, permuted: np.ndarray) -> np.ndarray:
    """From many pairs (rows): columns matched by total squared distance (linear_sum_assignment)."""
    plain, permuted = np.atleast_2d(plain), np.atleast_2d(permuted)
    sq_p = (permuted**2).sum(0)[:, None]
    sq_q = (plain**2).sum(0)[None, :]
    cost = sq_p + sq_q - 2.0 * permuted.T @ plain
    rows, cols = linear_sum_assignment(cost)
    key = np.empty(plain.shape[1], dtype=np.int64)
    key[rows] = cols
    return key


def known_plaintext_key(plain: np.ndarray, permuted: np.ndarray, axis: int = -1) -> np.ndarray:
    """Key from known (plain, permuted) activations of the same inputs."""
    p, q = rows_along(plain, axis), rows_along(permuted, axis)
    return argsort_key(p[0], q[0]) if len(p) == 1 else matching_key(p, q)


def unpermute(permuted: np.ndarray, key: np.ndarray, axis: int = -1) -> np.ndarray:
    """Undo a recovered key: out[..., key[j]] = permuted[..., j]."""
    x = np.moveaxis(np.asarray(permuted), axis, -1)
    out = np.empty_like(x)
    out[..., key] = x
    return np.moveaxis(out, -1, axis)


def recovery_rate(key: np.ndarray, true_key: np.ndarray) -> float:
    return float(np.mean(np.asarray(key) == np.asarray(true_key)))
