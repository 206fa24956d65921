"""Distance correlation between inputs and views, with a permutation-test p-value (dcor).

Leakage = the bias-corrected distance correlation (sqrt of dcor's unbiased dCor^2, clipped at 0)
when the permutation test rejects independence (p < ALPHA); otherwise 0. It measures dependence,
not recovery: a fixed coordinate permutation or any isometry of the view leaves it unchanged.
"""

from __future__ import annotations

import numpy as np

from nesabench.leakage.result import ALPHA, AttackResult

#: dcor is O(n^2) in memory and time: at most this many pairs.
MAX_SAMPLES = 200
RESAMPLES = 299


def distance_correlation(x: np.ndarray, y: np.ndarray, seed: int = 0, name: str = "distance_correlation",
                         max_samples: int = MAX_SAMPLES, resamples: int = RESAMPLES) -> AttackResult:
    import dcor

    rng = np.random.default_rng(seed)
    n = len(x)
    idx = rng.choice(n, size=min(n, max_samples), replace=False)
    a = np.ascontiguousarray(x[idx].reshape(len(idx), -1), dtype=np.float64)
    b = np.ascontiguousarray(y[idx].reshape(len(idx), -1), dtype=np.float64)
    if np.ptp(a, axis=0).max(initial=0) == 0 or np.ptp(b, axis=0).max(initial=0) == 0:
        return AttackResult(name, 0.0, n_test=len(idx), metrics={"dcor": 0.0, "p_value": 1.0,
                                                                  "constant": True})
    stat = float(dcor.distance_correlation(a, b))
    unbiased = float(dcor.u_distance_correlation_sqr(a, b))
    test = dcor.independence.distance_covariance_test(a, b, num_resamples=resamples,
                                                      random_state=int(rng.integers(2**31)))
    p = float(test.pvalue)
    corrected = float(np.sqrt(max(unbiased, 0.0)))
    return AttackResult(name, corrected if p < ALPHA else 0.0, n_test=len(idx),
                        metrics={"dcor": stat, "dcor_unbiased": corrected, "p_value": p})
