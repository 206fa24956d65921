"""One significance test for every accuracy-like attack: scipy's exact binomial test + Wilson interval.

An attack that gets ``k`` of ``n`` trials right where a constant guess gets a fraction ``chance``
right leaks only when the one-sided binomial test rejects ``chance`` at ALPHA; its leakage is then
the normalized advantage (0 at chance, 1 at perfect). The same test gives the attack's power: the
smallest advantage that would have reached ALPHA with ``n`` trials (the minimum detectable effect),
infinite when even a perfect score could not (8 trials of a coin cannot reach p <= 0.001).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from nesabench.leakage.result import ALPHA, above_chance

#: Chance rates are kept inside (0, 1) so the test is defined for degenerate constant guesses.
_EPS = 1e-9


@dataclass(frozen=True)
class BinomialOutcome:
    """What one binomial test says about an attack's ``k`` of ``n``."""

    rate: float
    chance: float
    p_value: float
    ci_low: float
    ci_high: float
    #: Normalized advantage when significant (p < ALPHA), else 0.
    leakage: float
    #: Smallest leakage this many trials could have detected (inf: none, not even a perfect score).
    min_detectable: float


def _chance(chance: float) -> float:
    return min(max(float(chance), _EPS), 1 - _EPS)


def binomial_outcome(k: int, n: int, chance: float, alpha: float = ALPHA) -> BinomialOutcome:
    """One-sided exact binomial test of ``k``/``n`` against ``chance``, with the 95% Wilson interval."""
    from scipy.stats import binomtest

    if n <= 0:
        return BinomialOutcome(0.0, float(chance), 1.0, float("nan"), float("nan"), 0.0, math.inf)
    test = binomtest(int(k), int(n), _chance(chance), alternative="greater")
    # The interval is two-sided (what the record shows), the decision one-sided (the hypothesis).
    ci = binomtest(int(k), int(n), _chance(chance)).proportion_ci(confidence_level=0.95, method="wilson")
    rate = k / n
    p = float(test.pvalue)
    return BinomialOutcome(rate, float(chance), p, float(ci.low), float(ci.high),
                           above_chance(rate, chance) if p < alpha else 0.0,
                           min_detectable_advantage(n, chance, alpha))


def wilson_interval(k: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of ``k``/``n`` (nan, nan for n = 0)."""
    from scipy.stats import binomtest

    if n <= 0:
        return float("nan"), float("nan")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


@lru_cache(maxsize=4096)
def _min_successes(n: int, chance: float, alpha: float) -> int | None:
    """Smallest k whose one-sided p-value is below alpha (None when even k = n is not)."""
    from scipy.stats import binom

    # P(X >= k) = sf(k - 1); it falls with k, so bisect on k.
    if binom.sf(n - 1, n, chance) >= alpha:
        return None
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if binom.sf(mid - 1, n, chance) < alpha:
            hi = mid
        else:
            lo = mid + 1
    return lo


def min_detectable_advantage(n: int, chance: float, alpha: float = ALPHA) -> float:
    """Smallest normalized advantage that ``n`` trials at this ``chance`` can show significant."""
    if n <= 0:
        return math.inf
    c = _chance(chance)
    k = _min_successes(int(n), round(c, 9), alpha)
    return math.inf if k is None else max(above_chance(k / n, c), 0.0)


def sequence_outcome(hits_per_sequence: list[float], chance_per_sequence: list[float],
                     alpha: float = ALPHA) -> BinomialOutcome:
    """Token-level attack tested with sequences, not positions, as the independent trials.

    Positions of one sentence share its context, so they are not independent draws: the test runs
    on ``m`` sequences with ``k = round(mean recovery x m)`` (each sequence counted once, as if its
    positions were fully dependent: conservative), against the mean chance rate.
    """
    m = len(hits_per_sequence)
    if m == 0:
        return binomial_outcome(0, 0, 0.0, alpha)
    rate = float(sum(hits_per_sequence)) / m
    chance = float(sum(chance_per_sequence)) / m
    out = binomial_outcome(round(rate * m), m, chance, alpha)
    # Report the measured rate (not the rounded one) and its leakage when the test rejects.
    leak = above_chance(rate, chance) if out.p_value < alpha else 0.0
    return BinomialOutcome(rate, chance, out.p_value, out.ci_low, out.ci_high, max(leak, 0.0),
                           out.min_detectable)
