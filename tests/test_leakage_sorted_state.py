"""The sorted-state attack uses only what the node sees and the attacker's own text."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

import nesabench.leakage.permuted as permuted


def test_candidates_come_from_the_attackers_corpus_and_only_the_mask_is_known(monkeypatch):
    seen: dict = {"known": []}

    def recover(observed, states, candidates, known=None, sweeps=2):
        seen["candidates"] = set(candidates.tolist())
        seen["known"].append(known.clone())
        return torch.zeros(observed.shape[0], dtype=torch.long)

    monkeypatch.setattr(permuted, "recover_tokens", recover)
    public = np.array([[101, 5, 6, 102, 0, 0]] * 6)  # the attacker's own text
    victim = np.array([[101, 7, 8, 9, 102, 0]] * 4)  # words the attacker never had
    inputs = np.concatenate([public, victim])
    data = SimpleNamespace(inputs=inputs, pad_id=0, public_ids=public)
    masks = [np.array([1, 1, 1, 1, 1, 0])] * len(inputs)  # the attention mask sent with each query
    view = SimpleNamespace(samples=[np.zeros((6, 4))] * len(inputs), layer="x",
                           meta={"attention_mask": masks})
    # Cross-validation folds put other victim queries on the training side: still not candidates.
    folds = [(np.arange(8), np.arange(8, 10))]
    res = permuted._sorted_state_attack(view, data, model=None, rows=slice(0, 10), folds=folds)
    assert seen["candidates"] <= {101, 5, 6, 102} and not seen["candidates"] & {7, 8, 9}
    for known in seen["known"]:  # guessed where the mask says a token is, padding elsewhere
        assert known.tolist() == [-1, -1, -1, -1, -1, 0]
    assert res.n_test == 2 and res.metrics["candidates"] == 4
