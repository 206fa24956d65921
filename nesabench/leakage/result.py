"""The typed result every attack returns, and the small statistics the attacks share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: An attack whose p-value is above this does not beat chance. Strict, because every party faces a
#: dozen attacks per run and a spurious 0.05 would read as a leak (family-wise error ~1%).
ALPHA = 0.001


@dataclass
class AttackResult:
    """One attack on one party's view.

    ``leakage`` is in [0, 1]: 0 = the attack does no better than chance, 1 = it recovers the input
    (or the key, for ``target="model"``) completely. Each attack documents how its raw metric maps
    to it. ``metrics`` holds the raw numbers (R^2, accuracy, p-values, ...), all JSON-able.
    """

    attack: str
    leakage: float
    target: str = "input"  # "input" or "model"
    n_train: int = 0
    n_test: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    view: str = ""
    #: Smallest leakage this attack could have detected at its sample size (its power): from an
    #: analytic minimum detectable effect of its test, or its own confidence interval. ``inf``: not
    #: even a complete leak would have reached significance; ``None``: the attack gives no bound.
    min_detectable: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.leakage):
            self.leakage = 0.0
        self.leakage = float(min(1.0, max(0.0, self.leakage)))


def bootstrap_ci(stat, n: int, rng: np.random.Generator, reps: int = 200) -> tuple[float, float]:
    """95% percentile bootstrap interval of ``stat(indices)`` over ``n`` test samples."""
    values = [stat(rng.integers(0, n, n)) for _ in range(reps)]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def above_chance(rate: float, chance: float) -> float:
    """Normalized advantage: 0 at chance, 1 at perfect; the map every accuracy-like attack uses."""
    if chance >= 1.0:
        return 0.0
    return (rate - chance) / (1.0 - chance)
