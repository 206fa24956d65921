"""Size and timing probes: what a party learns from how big a payload is or how long it took.

Per-sample message sizes (and per-sample seconds when a view's meta carries them) are probed for
the label with a 1-nearest-neighbour classifier (a size maps to a class by lookup); a constant
size or time carries nothing and scores 0 directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nesabench.leakage.attribute import attribute_probe
from nesabench.leakage.result import AttackResult

Fold = tuple[np.ndarray, np.ndarray]


def side_channel_probe(values: np.ndarray, labels: np.ndarray, folds: Sequence[Fold],
                       name: str) -> AttackResult:
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    if np.ptp(v, axis=0).max(initial=0.0) == 0.0:
        return AttackResult(name, 0.0, n_test=len(v), metrics={"constant": True})
    res = attribute_probe(v, labels, folds, name=name, classifier="nearest")
    res.metrics["constant"] = False
    return res
