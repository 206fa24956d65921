"""Membership inference: ROC summaries, the split, a model made to memorize, a DP check that can fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.dp_sgd import DPRecipe, train_model
from nesabench.harness.training_audit import audit_trained_model
from nesabench.leakage.membership import (
    NONMEMBER_FRACTION,
    advantage_margin,
    dp_advantage_bound,
    lira_offline_scores,
    membership_audit,
    membership_split,
    roc_summary,
)
from nesabench.pipeline import TrainedModel
from nesabench.workloads.data import Dataset, breast_cancer
from nesabench.workloads.models import MLP


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


def test_split_audits_balanced_unseen_samples_and_leaves_shadows_as_much_data_as_the_target() -> None:
    ds = breast_cancer(seed=0)
    split = membership_split(ds.x_train, ds.y_train, ds.x_test, ds.y_test, seed=0)
    n = round(NONMEMBER_FRACTION * len(ds.x_test))
    assert len(split.member_x) == len(split.nonmember_x) == n
    assert split.shadow_samples == len(ds.x_train) <= len(split.pool_x)
    assert len(split.pool_x) == len(ds.x_train) + len(ds.x_test) - 2 * n

    def rows(t: torch.Tensor) -> set[bytes]:
        return {r.numpy().tobytes() for r in t}

    assert rows(split.member_x) <= rows(ds.x_train)
    assert rows(split.nonmember_x) <= rows(ds.x_test)
    assert not rows(split.pool_x) & (rows(split.member_x) | rows(split.nonmember_x))
    with pytest.raises(ValueError, match="nonmember_fraction"):
        membership_split(ds.x_train, ds.y_train, ds.x_test, ds.y_test, nonmember_fraction=0.6)


#: The memorization recipe: a wide MLP, many passes over 100 random-label samples.
MEMORIZE = DPRecipe(epochs=100, lr=0.01, batch_size=20, optimizer="adam", max_grad_norm=1.0, accountant="prv")
SMALL_EPSILON, DELTA = 0.5, 1e-5


def _memorizer(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return train_model(MLP(x.shape[1], 2, hidden=(128,)), x, y, MEMORIZE, delta=DELTA, seed=seed)


def test_bound_check_fails_for_a_memorizing_model_and_holds_for_dp_at_small_epsilon() -> None:
    """The audit's DP check can fail: a non-private model that memorizes 100 random labels, audited as
    if it claimed epsilon = 0.5, exceeds the bound by more than the sampling margin; a DP-SGD model of
    that epsilon (same data, same recipe, shadows trained like it on as many samples) stays under it."""
    ds = _random_labels(n_train=100, n_test=200)
    claimed = TrainedModel(_memorizer(ds.x_train, ds.y_train, 0), ds.x_train, ds.y_train, _memorizer,
                           epsilon=SMALL_EPSILON, delta=DELTA)
    out = audit_trained_model(claimed, ds.x_test, ds.y_test, shadows=2)
    assert out["mia_shadow_train_samples"] == out["mia_target_train_samples"] == 100
    assert out["mia_advantage_bound"] == pytest.approx(dp_advantage_bound(SMALL_EPSILON, DELTA))
    assert out["mia_advantage"] > out["mia_advantage_bound"] + out["mia_advantage_margin95"]
    assert out["mia_bound_respected"] is False

    private = train_model(MLP(10, 2, hidden=(128,)), ds.x_train, ds.y_train, MEMORIZE, delta=DELTA, seed=0,
                          target_epsilon=SMALL_EPSILON)
    sigma = private.dp_outcome.noise_multiplier

    def dp_shadow(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return train_model(MLP(10, 2, hidden=(128,)), x, y, MEMORIZE, delta=DELTA, seed=seed,
                           noise_multiplier=sigma)

    dp = TrainedModel(private, ds.x_train, ds.y_train, dp_shadow, epsilon=private.dp_outcome.epsilon_spent,
                      delta=DELTA)
    out = audit_trained_model(dp, ds.x_test, ds.y_test, shadows=2)
    assert out["mia_bound_respected"] is True
    assert out["mia_bound_epsilon"] == pytest.approx(SMALL_EPSILON, rel=0.05)


def test_a_memorizing_model_is_caught_by_both_attacks() -> None:
    ds = _random_labels(n_train=100, n_test=200)
    target = _memorizer(ds.x_train, ds.y_train, 0)
    split = membership_split(ds.x_train, ds.y_train, ds.x_test, ds.y_test, seed=0)
    out = membership_audit(target, split, _memorizer, n_shadows=2, seed=0)
    n = len(split.member_x)
    # AUC of an attack that knows nothing has standard deviation null_sd around 0.5 (Mann-Whitney)
    null_sd = math.sqrt((2 * n + 1) / (12 * n * n))
    assert out["mia_loss_auc"] > 0.5 + 4 * null_sd and out["mia_lira_auc"] > 0.5 + 4 * null_sd
    assert out["mia_advantage"] > out["mia_advantage_margin95"]
