"""DP-SGD spends the epsilon asked; input DP costs accuracy at small epsilon; bad parameters fail clearly."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from conftest import CACHE_DIR, compose_config
from scipy.stats import norm

from baselines.dp_input import DPInputPipeline, analytic_gaussian_sigma
from baselines.dp_sgd import DPRecipe, DPSGDPipeline, train_model
from nesabench.workloads.data import breast_cancer
from nesabench.workloads.models import MLP
from nesabench.workloads.workload import Workload, load_workload

RECIPE = DPRecipe(epochs=5, lr=0.01, batch_size=64, optimizer="adam", max_grad_norm=1.0, accountant="prv")


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 4.0])
def test_dp_training_spends_the_epsilon_asked(epsilon: float) -> None:
    ds = breast_cancer(seed=0)
    torch.manual_seed(0)
    model = train_model(MLP(30, 2), ds.x_train, ds.y_train, RECIPE, delta=1 / len(ds.x_train), seed=0,
                        target_epsilon=epsilon)
    out = model.dp_outcome
    assert out.private and out.noise_multiplier > 0
    assert abs(out.epsilon_spent - epsilon) <= 0.05 * epsilon
    assert out.steps == RECIPE.epochs * round(1 / out.sample_rate)
    assert not hasattr(model, "_module")  # a clean module comes back, without Opacus' wrapper


def test_non_private_twin_spends_nothing() -> None:
    ds = breast_cancer(seed=0)
    model = train_model(MLP(30, 2), ds.x_train, ds.y_train, RECIPE, delta=0.01, seed=0)
    assert not model.dp_outcome.private and model.dp_outcome.epsilon_spent is None
    with torch.no_grad():
        assert (model(ds.x_test).argmax(1) == ds.y_test).float().mean() > 0.9


def test_dp_sgd_run_through_the_harness(run) -> None:
    rec = run("workload=mlp_cancer", "technique=dp_sgd", "technique.target_epsilon=1.0",
              "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    x = rec.extra
    assert abs(x["epsilon_spent"] - 1.0) <= 0.05
    n_train = x["mia_target_train_samples"]
    assert x["dp_delta"] == pytest.approx(min(1e-5, 1 / (10 * n_train)))
    assert rec.train_s > 0 and x["nonprivate_train_s"] > 0  # train_s: the DP training, not the workload's
    assert rec.accuracy_loss is not None and rec.accuracy is not None
    assert "node:plain_input" in rec.view_kinds  # DP does not protect the inference input
    # the harness audited the trained model: shadows as large as the target, the bound from (eps, delta)
    assert x["mia_shadow_train_samples"] == n_train and x["plaintext_mia_shadow_train_samples"] == n_train
    for attack in ("loss", "lira"):
        assert 0.0 <= x[f"mia_{attack}_auc"] <= 1.0 and 0.0 <= x[f"mia_{attack}_advantage"] <= 1.0
    assert (x["mia_bound_epsilon"], x["mia_bound_delta"]) == (x["epsilon_spent"], x["dp_delta"])
    bound_at_1 = (math.e - 1 + 2 * x["dp_delta"]) / (math.e + 1)
    assert x["mia_advantage_bound"] == pytest.approx(bound_at_1, rel=0.05)
    assert x["mia_bound_respected"] is True
    assert "plaintext_mia_auc" in x and "plaintext_mia_advantage_bound" not in x


def test_non_private_point_of_the_sweep(run) -> None:
    rec = run("workload=mlp_cancer", "technique=dp_sgd", "technique.target_epsilon=null",
              "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert rec.extra["dp_private"] is False and rec.extra["epsilon_spent"] is None
    assert rec.extra["train_overhead"] == 1.0
    assert "mia_auc" in rec.extra and "mia_advantage_bound" not in rec.extra  # audited, no DP claim


def test_only_techniques_that_train_are_audited(run) -> None:
    rec = run("workload=mlp_cancer", "technique=plaintext", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert not any(k.startswith(("mia_", "plaintext_mia_")) for k in rec.extra)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"target_epsilon": -1.0}, "target_epsilon"),
    ({"target_epsilon": 0.0}, "target_epsilon"),
    ({"delta": 1.0}, "delta"),
    ({"delta": 0.0}, "delta"),
    ({"max_grad_norm": 0.0}, "max_grad_norm"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"accountant": "moments"}, "accountant"),
])
def test_dp_sgd_rejects_bad_parameters(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=rf"dp_sgd: {name}=.* is not accepted; {name} must be"):
        DPSGDPipeline(**kwargs)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"epsilon": -1.0}, "epsilon"),
    ({"epsilon": float("inf")}, "epsilon"),
    ({"delta": 1.0}, "delta"),
    ({"mechanism": "exponential"}, "mechanism"),
    ({"clip": 0.0}, "clip"),
])
def test_dp_input_rejects_bad_parameters(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=rf"dp_input: {name}=.* is not accepted; {name} must be"):
        DPInputPipeline(**kwargs)


def test_bad_epsilon_from_the_command_line_is_a_failed_record_naming_it(run) -> None:
    rec = run("workload=mlp_cancer", "technique=dp_sgd", "technique.target_epsilon=-1",
              "harness.leakage=false")
    assert rec.status == "failed" and "target_epsilon=-1" in rec.reason


def _workload(name: str) -> Workload:
    return load_workload(compose_config([f"workload={name}"]).workload, 0, CACHE_DIR)


def test_input_dp_accuracy_falls_as_epsilon_shrinks() -> None:
    wl = _workload("cnn_digits")
    x, y = wl.dataset.x_test, wl.dataset.y_test
    with torch.no_grad():
        plain = (wl.model(x).argmax(1) == y).float().mean().item()
    acc = {}
    for eps in (1e4, 100.0, 1.0):
        pipe = DPInputPipeline(epsilon=eps)
        pipe.check(wl)
        pipe.prepare(wl)
        with torch.no_grad():
            acc[eps] = (pipe.infer(x).argmax(1) == y).float().mean().item()
        sent = pipe.views()[0].payload
        assert pipe.views()[0].kind == "plain_input" and sent.min() >= 0.0 and sent.max() <= 1.0
        assert not torch.equal(sent, x)  # the node sees the noised input, never the raw one
    assert acc[1e4] >= plain - 0.03
    assert acc[1e4] > acc[100.0] + 0.2 > acc[1.0] + 0.2
    assert acc[1.0] < 0.3  # ten classes: near chance


def test_analytic_gaussian_meets_delta_and_beats_the_classic_calibration() -> None:
    eps, delta, sens = 0.5, 1e-5, 2.0
    sigma = analytic_gaussian_sigma(eps, delta, sens)
    a, b = sens / (2 * sigma), eps * sigma / sens
    assert norm.cdf(a - b) - math.exp(eps) * norm.cdf(-a - b) == pytest.approx(delta, rel=1e-4)
    assert sigma < sens * math.sqrt(2 * math.log(1.25 / delta)) / eps


def test_randomized_response_on_tokens_and_laplace_refused(run) -> None:
    rec = run("workload=tiny_transformer", "technique=dp_input", "technique.epsilon=32",
              "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    k, e = rec.extra["dp_input_vocab_size"], math.exp(32 / 16)
    assert rec.extra["dp_input_keep_prob"] == pytest.approx(e / (e + k - 1))
    assert rec.accuracy_loss > 0
    wl = _workload("tiny_transformer")
    pipe = DPInputPipeline(epsilon=32.0)
    pipe.prepare(wl)
    x = wl.dataset.x_test
    kept = (pipe.privatize(x) == x).float().mean().item()
    assert kept == pytest.approx(e / (e + k - 1), abs=0.03)
    bad = run("workload=tiny_transformer", "technique=dp_input", "technique.mechanism=laplace",
              "harness.leakage=false")
    assert bad.status == "unsupported" and "randomized_response" in bad.reason


def test_dp_costs_accuracy_and_more_at_smaller_epsilon() -> None:
    """cnn_digits, same recipe: epsilon 0.5 < epsilon 8 <= non-private (real Opacus training each time)."""
    wl = _workload("cnn_digits")
    ds = wl.dataset
    recipe = dataclasses.replace(RECIPE, epochs=15)
    acc = {}
    for eps in (0.5, 8.0, None):
        model = train_model(wl.new_model(), ds.x_train, ds.y_train, recipe, delta=1 / len(ds.x_train),
                            seed=0, target_epsilon=eps)
        with torch.no_grad():
            acc[eps] = (model(ds.x_test).argmax(1) == ds.y_test).float().mean().item()
    assert acc[0.5] + 0.05 < acc[8.0] <= acc[None] + 0.01
