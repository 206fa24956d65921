"""Membership inference: the ROC summaries, a model made to memorize, and the DP bound at small epsilon."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.dp_sgd import DPRecipe, torch_threads, train_model
from nesabench.leakage.membership import (
    advantage_margin,
    dp_advantage_bound,
    lira_offline_scores,
    membership_audit,
    membership_split,
    roc_summary,
)
from nesabench.workloads.data import Dataset, breast_cancer
from nesabench.workloads.models import MLP
from nesabench.workloads.training import train_classifier


def test_roc_summary_separated_and_identical_scores() -> None:
    perfect = roc_summary(np.array([2.0, 3.0, 4.0]), np.array([-1.0, 0.0, 1.0]))
    assert (perfect.auc, perfect.advantage, perfect.tpr_at_1pct_fpr) == (1.0, 1.0, 1.0)
    rng = np.random.default_rng(0)
    same = roc_summary(rng.normal(size=4000), rng.normal(size=4000))
    assert abs(same.auc - 0.5) < 0.03 and same.advantage < 0.05


def test_advantage_margin_covers_the_null_at_95_percent() -> None:
    """Members and non-members from one distribution: the measured advantage exceeds the margin rarely."""
    rng = np.random.default_rng(1)
    n1, n0 = 300, 80
    margin = advantage_margin(n1, n0)
    exceed = [roc_summary(rng.normal(size=n1), rng.normal(size=n0)).advantage > margin for _ in range(300)]
    assert np.mean(exceed) <= 0.08


def test_dp_bound_values_and_bad_parameters() -> None:
    assert dp_advantage_bound(0.0, 0.0) == 0.0
    assert dp_advantage_bound(1.0, 0.0) == pytest.approx((math.e - 1) / (math.e + 1))
    assert dp_advantage_bound(0.5, 0.01) < dp_advantage_bound(1.0, 0.01) < dp_advantage_bound(8.0, 0.01) < 1
    with pytest.raises(ValueError, match="epsilon"):
        dp_advantage_bound(-1.0, 1e-5)
    with pytest.raises(ValueError, match="delta"):
        dp_advantage_bound(1.0, 1.0)


def test_lira_needs_two_shadows() -> None:
    with pytest.raises(ValueError, match="2 shadows"):
        lira_offline_scores(np.zeros(5), np.zeros((1, 5)))


def _random_labels(n_train: int, n_test: int, dims: int = 10, seed: int = 0) -> Dataset:
    """Random inputs with random labels: nothing to generalize, only to memorize."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    x, y = torch.randn(n, dims, generator=g), torch.randint(0, 2, (n,), generator=g)
    return Dataset("random", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 2, "tabular",
                   {"in_features": dims, "num_classes": 2})


def test_a_memorizing_model_is_caught_by_both_attacks() -> None:
    ds = _random_labels(n_train=40, n_test=200)

    def train(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        data = Dataset("shadow", x, y, x[:1], y[:1], 2, "tabular", {})
        with torch_threads(1):
            return train_classifier(MLP(10, 2, hidden=(64,)), data, seed=seed, epochs=300, lr=0.01,
                                    batch_size=20)

    target = train(ds.x_train, ds.y_train, seed=0)
    split = membership_split(ds, attacker_fraction=0.5, seed=0)
    out = membership_audit(target, split, train, n_shadows=4, shadow_fraction=0.4, seed=0)
    assert (out["mia_members"], out["mia_nonmembers"], out["mia_attacker_samples"]) == (40, 100, 100)
    # AUC of an attack that knows nothing has standard deviation null_sd around 0.5 (Mann-Whitney)
    null_sd = math.sqrt((40 + 100 + 1) / (12 * 40 * 100))
    assert out["mia_loss_auc"] > 0.5 + 4 * null_sd and out["mia_lira_auc"] > 0.5 + 4 * null_sd
    assert out["mia_advantage"] > out["mia_advantage_margin95"]


def test_small_epsilon_advantage_respects_the_dp_bound() -> None:
    """A real DP-SGD model at epsilon 0.5: the strongest attack stays under the bound plus sampling error."""
    ds = breast_cancer(seed=0)
    torch.manual_seed(0)
    recipe = DPRecipe(epochs=15, lr=0.01, batch_size=64, optimizer="adam", max_grad_norm=1.0,
                      accountant="prv")
    delta = 1.0 / len(ds.x_train)
    target = train_model(MLP(30, 2), ds.x_train, ds.y_train, recipe, delta=delta, seed=0, target_epsilon=0.5)
    sigma = target.dp_outcome.noise_multiplier

    def shadow(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return train_model(MLP(30, 2), x, y, recipe, delta=delta, seed=seed, noise_multiplier=sigma)

    out = membership_audit(target, membership_split(ds, seed=0), shadow, n_shadows=2, seed=0)
    bound = dp_advantage_bound(target.dp_outcome.epsilon_spent, delta)
    assert bound < 0.3
    assert out["mia_advantage"] <= bound + out["mia_advantage_margin95"]
