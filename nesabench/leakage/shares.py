"""Attacks on additive secret shares over Z_2^64: bit uniformity, distinguishing game, collusion.

Any n-1 of n additive shares with uniform masks are independent of the input; these tests check
that a technique's shares really are (and show that pooling all n reconstructs the input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import chi2

from nesabench.leakage.attribute import attribute_probe
from nesabench.leakage.result import ALPHA, AttackResult
from nesabench.leakage.significance import binomial_outcome


def as_ring(x: np.ndarray) -> np.ndarray:
    """Shares as uint64 ring elements (int64 arrays are reinterpreted, not converted)."""
    x = np.ascontiguousarray(x)
    return x.view(np.uint64) if x.dtype == np.int64 else x.astype(np.uint64)


def share_bits(shares: np.ndarray) -> np.ndarray:
    """(n, d) ring elements -> (n, d * 64) bits."""
    r = as_ring(shares).reshape(len(shares), -1)
    return np.unpackbits(r.view(np.uint8), axis=1, bitorder="little")


def bit_uniformity(shares: np.ndarray) -> AttackResult:
    """Chi-square test that each of the 64 bit positions is 1 half the time (pooled over elements).

    Leakage = twice the largest deviation of a bit's frequency from 1/2 (1 = a constant bit), when
    the test rejects uniformity (p < ALPHA); otherwise 0.
    """
    r = as_ring(shares).ravel()
    bits = np.unpackbits(r.view(np.uint8)).reshape(-1, 64)
    ones, n = bits.sum(0).astype(np.float64), bits.shape[0]
    stat = float(((ones - n / 2) ** 2 / (n / 4)).sum())
    p = float(chi2.sf(stat, df=64))
    dev = float(np.abs(ones / n - 0.5).max())
    # Power: one bit biased by d alone adds 4 n d^2 to the statistic; it is detected once that
    # reaches the critical value, i.e. at leakage 2 d = sqrt(critical / n).
    detectable = float(np.sqrt(chi2.isf(ALPHA, df=64) / n)) if n else float("inf")
    return AttackResult("share_bit_uniformity", 2 * dev if p < ALPHA else 0.0, n_test=n,
                        min_detectable=detectable,
                        metrics={"chi2": stat, "p_value": p, "max_bit_bias": dev})


def distinguishing_game(
    share_fn: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    x1: np.ndarray,
    trials: int = 400,
    seed: int = 0,
) -> AttackResult:
    """IND game: the attacker sees a share of x0 or x1 and must tell which.

    A logistic regression on share bits and values (read as signed integers) is trained on half
    the trials and tested on the rest; advantage = 2 * accuracy - 1 (0 = guessing) is the leakage
    when the binomial test rejects 1/2.
    """
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 2, trials)
    shares = np.stack([share_fn(x1 if bit else x0) for bit in b])
    feats = np.hstack([share_bits(shares), as_ring(shares).view(np.int64).astype(np.float64)])
    half = trials // 2
    res = attribute_probe(feats, b, [(np.arange(half), np.arange(half, trials))], name="share_game")
    acc = res.metrics["accuracy"]
    # Against 1/2 (not the majority guess): the game's bit is a fair coin by construction.
    test = binomial_outcome(round(acc * res.n_test), res.n_test, 0.5)
    adv = 2 * acc - 1
    return AttackResult("share_distinguishing_game", test.leakage, n_train=half, n_test=res.n_test,
                        ci_low=2 * test.ci_low - 1, ci_high=2 * test.ci_high - 1,
                        min_detectable=test.min_detectable,
                        metrics={"advantage": adv, "accuracy": acc, "p_value": test.p_value})


def pooled_features(shares: Sequence[np.ndarray]) -> np.ndarray:
    """What colluders compute: the ring sum of their shares, read as signed fixed point."""
    total = np.zeros_like(as_ring(shares[0]))
    for s in shares:
        total = total + as_ring(s)  # uint64 arithmetic wraps mod 2^64
    return total.view(np.int64).astype(np.float64).reshape(len(total), -1)


def collusion_sweep(
    shares: Sequence[np.ndarray],
    probe: Callable[[np.ndarray], AttackResult],
) -> list[AttackResult]:
    """Pool the first 1..k parties' shares and run ``probe`` on what they reconstruct together."""
    out = []
    for j in range(1, len(shares) + 1):
        res = probe(pooled_features(shares[:j]))
        res.attack = f"collusion_{j}_of_{len(shares)}"
        res.metrics["parties"] = j
        out.append(res)
    return out
