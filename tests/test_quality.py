"""One accuracy/agreement for every technique: the same numbers from tensors and arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nesabench.quality import accuracy, agreement, measure_quality, model_accuracy


def test_accuracy_and_agreement_count_top1_matches() -> None:
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    other = np.array([[0.1, 0.9], [0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])
    assert accuracy(scores, labels) == 0.75
    assert agreement(scores, other) == 0.5
    # the same numbers from torch tensors, and from a mix
    assert accuracy(torch.from_numpy(scores), torch.from_numpy(labels)) == 0.75
    assert agreement(torch.from_numpy(scores), other) == 0.5
    q = measure_quality(torch.from_numpy(scores), torch.from_numpy(other), torch.from_numpy(labels))
    assert (q.accuracy, q.plaintext_accuracy, q.fidelity_agreement) == (0.75, 0.25, 0.5)
    assert q.accuracy_loss == pytest.approx(-0.5)


def test_model_accuracy_evaluates_the_model() -> None:
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
        model.bias.zero_()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    assert model_accuracy(model, x, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
