"""Recover an EE key from the node's own weights, against the public model's weights.

A permutation folded into a weight matrix moves whole rows or columns; sorting the values of each
slice along an axis removes every permutation of the OTHER axes, so each of the node's slices can
be matched to its public slice (exact float copies match exactly; ties and noise are resolved by
minimum total distance with ``linear_sum_assignment``). Normalization vectors (LayerNorm/RMSNorm
gamma and beta, biases) are matched value by value, together. The vocabulary key is matched row by
row (``vocabulary_matching``). No knowledge of the key is used; whether a recovered permutation is
right is checked by un-permuting the node's weights and comparing them with the public ones.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from nesabench.leakage.vocabulary_matching import match_vocabulary

#: Slices longer than this are described by this many evenly spaced order statistics.
MAX_DESCRIPTOR = 4096


def _np(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, np.float64)


def slice_descriptors(w: np.ndarray, axis: int) -> np.ndarray:
    """(n, k): sorted values of each slice along ``axis``: invariant to permutations of other axes."""
    rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    rows = np.sort(rows, axis=1)
    if rows.shape[1] > MAX_DESCRIPTOR:
        rows = rows[:, np.linspace(0, rows.shape[1] - 1, MAX_DESCRIPTOR).astype(int)]
    return rows


def assign(public: np.ndarray, node: np.ndarray) -> np.ndarray:
    """key[j] = public index matched to the node's index j (descriptors as rows), min total distance."""
    cost = (node**2).sum(1)[:, None] + (public**2).sum(1)[None, :] - 2.0 * node @ public.T
    rows, cols = linear_sum_assignment(np.maximum(cost, 0.0))
    key = np.empty(len(node), dtype=np.int64)
    key[rows] = cols
    return key


def match_axis(public: Mapping[str, torch.Tensor], node: Mapping[str, torch.Tensor],
               members: list[tuple[str, int]]) -> np.ndarray | None:
    """The permutation shared by the given (parameter name, axis) slices, from all of them together."""
    pub, obs = [], []
    for name, axis in members:
        if name not in public or name not in node or public[name].shape != node[name].shape:
            continue
        p, q = _np(public[name]), _np(node[name])
        pub.append(slice_descriptors(p, axis))
        obs.append(slice_descriptors(q, axis))
    if not pub:
        return None
    scale = [max(float(np.abs(p).max()), 1e-12) for p in pub]
    return assign(np.hstack([p / s for p, s in zip(pub, scale, strict=True)]),
                  np.hstack([o / s for o, s in zip(obs, scale, strict=True)]))


def unpermute_along(x: np.ndarray, key: np.ndarray, axis: int) -> np.ndarray:
    """Undo a recovered key: out[..., key[j], ...] = x[..., j, ...]."""
    x = np.moveaxis(np.asarray(x), axis, -1)
    out = np.empty_like(x)
    out[..., key] = x
    return np.moveaxis(out, -1, axis)


def verified_fraction(public: Mapping[str, torch.Tensor], node: Mapping[str, torch.Tensor],
                      members: list[tuple[str, int]], key: np.ndarray, rtol: float = 1e-5) -> float:
    """Fraction of indices whose un-permuted slices reproduce the public slices (sorted along the
    other axes, which other keys may still permute): the attacker's own check, no key needed."""
    ok = np.ones(len(key), dtype=bool)
    seen = False
    for name, axis in members:
        if name not in public or name not in node or public[name].shape != node[name].shape:
            continue
        seen = True
        p = slice_descriptors(_np(public[name]), axis)
        q = slice_descriptors(unpermute_along(_np(node[name]), key, axis), axis)
        tol = rtol * max(float(np.abs(p).max()), 1e-12)
        ok &= np.abs(p - q).max(1) <= tol
    return float(ok.mean()) if seen else 0.0


def vocabulary_key(public_table: torch.Tensor, node_table: torch.Tensor) -> np.ndarray:
    """key[i] = public token id of the node's embedding row i (rows carry the hidden key too)."""
    return match_vocabulary(_np(public_table).astype(np.float32), _np(node_table).astype(np.float32))
