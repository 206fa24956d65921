"""Controlled-channel attack: recover token ids from page-granular access traces of an embedding lookup.

A sealed enclave still touches the page holding each token's embedding row. The attacker learns
which token each page most often means from its own (input, trace) pairs, then reads tokens off
the traces of the evaluated inputs. With one access per position the guess is positional; otherwise
the trace is read as a set. Leakage = recovery above the best constant guess, normalized.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest

from nesabench.leakage.result import ALPHA, AttackResult, above_chance, wilson_ci

Fold = tuple[np.ndarray, np.ndarray]


def page_token_map(traces: Sequence[np.ndarray], ids: np.ndarray, pad_id: int) -> dict[int, int]:
    """Most frequent token behind each page, from position-aligned attacker pairs."""
    seen: dict[int, Counter] = defaultdict(Counter)
    for trace, row in zip(traces, ids, strict=True):
        if len(trace) == len(row):
            for page, tok in zip(trace, row, strict=True):
                seen[int(page)][int(tok)] += 1
    return {page: c.most_common(1)[0][0] for page, c in seen.items()}


def access_trace_attack(traces: Sequence[np.ndarray], ids: np.ndarray, folds: Sequence[Fold],
                        pad_id: int = 0) -> AttackResult:
    hits, chance_hits = [], []
    aligned = all(len(t) == ids.shape[1] for t in traces)
    for tr, te in folds:
        mapping = page_token_map([traces[i] for i in tr], ids[tr], pad_id)
        train_tokens = ids[tr][ids[tr] != pad_id]
        common = np.bincount(train_tokens).argmax() if len(train_tokens) else pad_id
        for i in te:
            truth, trace = ids[i], traces[i]
            guess = np.array([mapping.get(int(p), -1) for p in trace])
            keep = truth != pad_id
            if aligned:
                hits.extend((guess == truth)[keep])
                chance_hits.extend((truth == common)[keep])
            else:
                found = set(guess.tolist())
                hits.extend(int(t) in found for t in truth[keep])
                chance_hits.extend(int(t) == common for t in truth[keep])
    k, n = int(np.sum(hits)), len(hits)
    rate, chance = k / max(n, 1), float(np.mean(chance_hits)) if n else 0.0
    p = binomtest(k, n, min(max(chance, 1e-9), 1 - 1e-9), alternative="greater").pvalue if n else 1.0
    lo, hi = wilson_ci(k, n)
    return AttackResult("access_trace_tokens", above_chance(rate, chance) if p < ALPHA else 0.0,
                        n_train=len(folds[0][0]), n_test=n, ci_low=lo, ci_high=hi,
                        metrics={"token_recovery": rate, "chance": chance, "p_value": float(p),
                                 "aligned": aligned})
