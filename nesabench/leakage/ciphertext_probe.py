"""Ciphertext-only probes: read serialized bytes (ciphertexts, sealed blobs, proofs) as features.

The first bytes of each payload and its length become a fixed-length uint8 vector; the generic
reconstruction and attribute probes then run on it. A sound encryption keeps every score at 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nesabench.leakage.attribute import attribute_probe
from nesabench.leakage.reconstruction import reconstruction_probe
from nesabench.leakage.result import AttackResult
from nesabench.leakage.views import bytes_features

Fold = tuple[np.ndarray, np.ndarray]


def ciphertext_probes(blobs: Sequence[bytes], inputs: np.ndarray, labels: np.ndarray | None,
                      folds: Sequence[Fold], seed: int = 0) -> list[AttackResult]:
    x = bytes_features(blobs)
    out = reconstruction_probe(x, inputs, folds, seed=seed, name="ciphertext_reconstruction")
    if labels is not None:
        out.append(attribute_probe(x, labels, folds, name="ciphertext_attribute"))
    return out
