"""Controlled-channel attack: recover token ids from page-granular access traces of an embedding lookup.

A sealed enclave still touches the page holding each token's embedding row. The attacker learns
which token each page most often means from its own (input, trace) pairs, then reads tokens off
the traces of the evaluated inputs. With one access per position the guess is positional; otherwise
the trace is read as a set. Leakage = recovery above the best constant guess, normalized, when
the binomial test over sequences (not positions: they share a sentence) rejects chance.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from nesabench.leakage.result import AttackResult
from nesabench.leakage.significance import sequence_outcome

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
    hits, chance_hits = [], []  # per sequence: fraction of its tokens recovered / guessed by a constant
    positions = 0
    aligned = all(len(t) == ids.shape[1] for t in traces)
    for tr, te in folds:
        mapping = page_token_map([traces[i] for i in tr], ids[tr], pad_id)
        train_tokens = ids[tr][ids[tr] != pad_id]
        common = np.bincount(train_tokens).argmax() if len(train_tokens) else pad_id
        for i in te:
            truth, trace = ids[i], traces[i]
            guess = np.array([mapping.get(int(p), -1) for p in trace])
            keep = truth != pad_id
            if not keep.any():
                continue
            if aligned:
                hit = (guess == truth)[keep]
            else:
                found = set(guess.tolist())
                hit = np.array([int(t) in found for t in truth[keep]])
            hits.append(float(np.mean(hit)))
            chance_hits.append(float(np.mean(truth[keep] == common)))
            positions += int(keep.sum())
    test = sequence_outcome(hits, chance_hits)
    return AttackResult("access_trace_tokens", test.leakage, n_train=len(folds[0][0]), n_test=len(hits),
                        ci_low=test.ci_low, ci_high=test.ci_high, min_detectable=test.min_detectable,
                        metrics={"token_recovery": test.rate, "chance": test.chance, "p_value": test.p_value,
                                 "aligned": aligned, "sequences": len(hits), "positions": positions})
