"""Recover a secret vocabulary permutation from a permuted embedding table of a public model.

Row ``i`` of the node's table is public row ``key[i]`` (its hidden coordinates possibly permuted
too). Sorted row values are invariant to the hidden permutation, so each permuted row is matched to
its public row by nearest sorted row (exact copies match exactly). Leakage = fraction of the
vocabulary mapped back; token recovery on text follows from it.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def match_vocabulary(public_table: np.ndarray, permuted_table: np.ndarray) -> np.ndarray:
    """key[i] = public token id of the node's row i: exact sorted-row copies first, nearest otherwise."""
    pub = np.sort(np.asarray(public_table, dtype=np.float32), axis=1)
    obs = np.sort(np.asarray(permuted_table, dtype=np.float32), axis=1)
    index = {row.tobytes(): i for i, row in enumerate(pub)}
    key = np.array([index.get(row.tobytes(), -1) for row in obs], dtype=np.int64)
    missing = np.nonzero(key < 0)[0]
    if len(missing):
        nn = NearestNeighbors(n_neighbors=1).fit(pub)
        key[missing] = nn.kneighbors(obs[missing], return_distance=False)[:, 0]
    return key


def mapped_fraction(key: np.ndarray, true_key: np.ndarray) -> float:
    return float(np.mean(np.asarray(key) == np.asarray(true_key)))


def text_recovery(key: np.ndarray, permuted_ids: np.ndarray, true_ids: np.ndarray) -> float:
    """Tokens of held-out text recovered when the node sees their permuted ids."""
    return float(np.mean(key[np.asarray(permuted_ids)] == np.asarray(true_ids)))
