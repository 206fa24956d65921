"""Attribute probe: logistic regression from the view to the label (or any sensitive attribute).

Leakage = accuracy above the majority-class guess, normalized to [0, 1], when a one-sided binomial
test says it beats that guess (p < ALPHA); otherwise 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from nesabench.leakage.result import ALPHA, AttackResult, above_chance, wilson_ci

Fold = tuple[np.ndarray, np.ndarray]


def attribute_probe(x: np.ndarray, labels: np.ndarray, folds: Sequence[Fold],
                    name: str = "attribute") -> AttackResult:
    hits, chance_hits = [], []
    for tr, te in folds:
        majority = np.bincount(labels[tr]).argmax()
        chance_hits.append(labels[te] == majority)
        if len(np.unique(labels[tr])) < 2:
            hits.append(labels[te] == majority)
            continue
        scaler = StandardScaler().fit(x[tr])
        clf = LogisticRegression(max_iter=300, C=1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(scaler.transform(x[tr]), labels[tr])
        hits.append(clf.predict(scaler.transform(x[te])) == labels[te])
    hit, ch = np.concatenate(hits), np.concatenate(chance_hits)
    k, n = int(hit.sum()), len(hit)
    acc, chance = k / n, float(ch.mean())
    p = binomtest(k, n, min(max(chance, 1e-9), 1 - 1e-9), alternative="greater").pvalue
    lo, hi = wilson_ci(k, n)
    leak = above_chance(acc, chance) if p < ALPHA else 0.0
    return AttackResult(name, leak, n_train=len(folds[0][0]), n_test=n, ci_low=lo, ci_high=hi,
                        metrics={"accuracy": acc, "chance": chance, "p_value": float(p)})
