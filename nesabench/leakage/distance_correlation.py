"""Distance correlation between inputs and views, with a permutation-test p-value.

Written in numpy on double-centred distance matrices (the dcor package gives the same numbers, as
the calibration tests check, but its numba compilation costs seconds on every harness start).
Leakage = the bias-corrected distance correlation (sqrt of the U-statistic dCor^2, clipped at 0)
when the permutation test rejects independence (p <= ALPHA: no random pairing of the 999 reaches
the observed dependence); otherwise 0. It measures dependence,
not recovery: a fixed coordinate permutation or any isometry of the view leaves it unchanged.
Its power is the smallest bias-corrected dCor the test of Szekely & Rizzo (2013) rejects at ALPHA
with n samples: under independence T = sqrt(v - 1) R / sqrt(1 - R^2), v = n(n - 3)/2, is Student t
with v - 1 degrees of freedom (R = dCor^2, unbiased).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from nesabench.leakage.result import ALPHA, AttackResult

#: Distance matrices are O(n^2): at most this many pairs.
MAX_SAMPLES = 200
RESAMPLES = 999


def _distances(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float64)
    return cdist(x, x)


def double_centred(d: np.ndarray) -> np.ndarray:
    return d - d.mean(0)[None, :] - d.mean(1)[:, None] + d.mean()


def u_centred(d: np.ndarray) -> np.ndarray:
    n = len(d)
    out = d - d.sum(0)[None, :] / (n - 2) - d.sum(1)[:, None] / (n - 2) + d.sum() / ((n - 1) * (n - 2))
    np.fill_diagonal(out, 0.0)
    return out


def dcor_value(x: np.ndarray, y: np.ndarray) -> float:
    """Distance correlation (V-statistic, in [0, 1]); equals ``dcor.distance_correlation``."""
    a, b = double_centred(_distances(x)), double_centred(_distances(y))
    denom = np.sqrt((a * a).mean() * (b * b).mean())
    return float(np.sqrt(max((a * b).mean(), 0.0) / denom)) if denom > 0 else 0.0


def u_dcor_sqr(x: np.ndarray, y: np.ndarray) -> float:
    """Bias-corrected squared distance correlation; equals ``dcor.u_distance_correlation_sqr``."""
    a, b = u_centred(_distances(x)), u_centred(_distances(y))
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def permutation_pvalue(x: np.ndarray, y: np.ndarray, resamples: int, rng: np.random.Generator) -> float:
    """P(dCov^2 under a random pairing >= observed), with the +1 correction."""
    a, b = double_centred(_distances(x)), double_centred(_distances(y))
    observed = (a * b).mean()
    hits = 0
    for _ in range(resamples):
        p = rng.permutation(len(b))
        hits += (a * b[np.ix_(p, p)]).mean() >= observed - 1e-12 * abs(observed)
    return (hits + 1) / (resamples + 1)


def min_detectable_dcor(n: int) -> float:
    """Smallest bias-corrected dCor that n samples can show dependent at ALPHA (inf below 4)."""
    from scipy.stats import t as student_t

    if n < 4:
        return float("inf")
    v = n * (n - 3) / 2
    crit = float(student_t.isf(ALPHA, v - 1))
    return float(np.sqrt(crit / np.sqrt(v - 1 + crit * crit)))


def distance_correlation(x: np.ndarray, y: np.ndarray, seed: int = 0, name: str = "distance_correlation",
                         max_samples: int = MAX_SAMPLES, resamples: int = RESAMPLES) -> AttackResult:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(len(x), max_samples), replace=False)
    a, b = x[idx].reshape(len(idx), -1), y[idx].reshape(len(idx), -1)
    if len(idx) < 4 or np.ptp(a, axis=0).max(initial=0) == 0 or np.ptp(b, axis=0).max(initial=0) == 0:
        # A constant side is independent of anything, but says nothing about the attack's power.
        return AttackResult(name, 0.0, n_test=len(idx), metrics={"dcor": 0.0, "p_value": 1.0})
    corrected = float(np.sqrt(max(u_dcor_sqr(a, b), 0.0)))
    p = permutation_pvalue(a, b, resamples, rng)
    # The permutation p-value cannot go below 1/(resamples + 1): fewer resamples, no power at ALPHA.
    power = min_detectable_dcor(len(idx)) if 1 / (resamples + 1) <= ALPHA else float("inf")
    return AttackResult(name, corrected if p <= ALPHA else 0.0, n_test=len(idx), min_detectable=power,
                        metrics={"dcor": dcor_value(a, b), "dcor_unbiased": corrected, "p_value": p})
