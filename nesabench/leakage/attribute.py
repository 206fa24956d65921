"""Attribute probe: logistic regression from the view to the label (or any sensitive attribute).

Leakage = accuracy above the majority-class guess, normalized to [0, 1], when the one-sided
binomial test (``significance.binomial_outcome``) says it beats that guess (p < ALPHA); otherwise
0. The view an untrusted party computes or
receives as OUTPUT counts too: a party that sees the prediction learns the label.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from nesabench.leakage.result import AttackResult
from nesabench.leakage.significance import binomial_outcome

Fold = tuple[np.ndarray, np.ndarray]


def _classifier(kind: str):
    if kind == "nearest":  # for a few scalar side channels: exact lookups beat a linear model
        return KNeighborsClassifier(n_neighbors=1)
    return LogisticRegression(max_iter=300, C=1.0)


def attribute_probe(x: np.ndarray, labels: np.ndarray, folds: Sequence[Fold],
                    name: str = "attribute", classifier: str = "logistic") -> AttackResult:
    hits, chance_hits, prior = [], [], []
    for tr, te in folds:
        counts = np.bincount(labels[tr])
        majority = counts.argmax()
        chance_hits.append(labels[te] == majority)
        prior.append(counts.max() / counts.sum() * len(te))
        if len(np.unique(labels[tr])) < 2:
            hits.append(labels[te] == majority)
            continue
        scaler = StandardScaler().fit(x[tr])
        clf = _classifier(classifier)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(scaler.transform(x[tr]), labels[tr])
        hits.append(clf.predict(scaler.transform(x[te])) == labels[te])
    hit, ch = np.concatenate(hits), np.concatenate(chance_hits)
    k, n = int(hit.sum()), len(hit)
    # Chance: the majority guess, on the test labels or as the train prior expects, whichever is
    # higher (with a handful of test samples the first can be 0 by luck).
    acc, chance = k / n, max(float(ch.mean()), float(np.sum(prior)) / n)
    test = binomial_outcome(k, n, chance)
    return AttackResult(name, test.leakage, n_train=len(folds[0][0]), n_test=n, ci_low=test.ci_low,
                        ci_high=test.ci_high, min_detectable=test.min_detectable,
                        metrics={"accuracy": acc, "chance": chance, "p_value": test.p_value})
