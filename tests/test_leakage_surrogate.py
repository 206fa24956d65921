"""The surrogate-model attack: an EE node that does not know the original weights trains its own
model on its own data and matches activation statistics to recover the hidden key."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from conftest import trained_workload
from torch import nn

from nesabench.hybrid import nesa_ee
from nesabench.leakage.suite import AttackData, evaluate_leakage
from nesabench.leakage.surrogate_matching import attacker_split, fresh_surrogate, surrogate_attacks
from nesabench.leakage.views import ViewSeries
from nesabench.workloads.data import breast_cancer
from nesabench.workloads.training import train_classifier
from nesabench.workloads.workload import Workload

WIDTH = 24
N_EVAL = 64


class BackboneHead(nn.Module):
    """A public frozen feature layer (as a pretrained backbone) and a trainable head."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1234)  # the "published" backbone: the same for everyone
        self.backbone = nn.Linear(30, WIDTH)
        with torch.no_grad():
            scale = torch.logspace(-1, 1, WIDTH)[:, None]  # coordinates of distinct scales: informative
            self.backbone.weight.copy_(torch.randn(WIDTH, 30, generator=gen) * scale / 5)
            self.backbone.bias.copy_(torch.randn(WIDTH, generator=gen) * scale[:, 0])
        self.backbone.requires_grad_(False)
        self.act = nn.ReLU()
        self.head = nn.Linear(WIDTH, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.backbone(x)))


def backbone_workload(tmp_path: Path) -> Workload:
    ds = breast_cancer()
    recipe = functools.partial(train_classifier, epochs=20, lr=0.01, batch_size=32)

    def new_model() -> nn.Module:
        torch.manual_seed(0)
        return BackboneHead()

    model = recipe(new_model(), ds, seed=0)
    return Workload(name="backbone", dataset=ds, model=model, seed=0, key="t", config={}, cache_dir=tmp_path,
                    new_model=new_model, recipe=recipe)


def permuted_series(w: Workload, perm: np.ndarray) -> tuple[ViewSeries, ViewSeries, AttackData]:
    """The node's permuted view of the hidden layer for the first N_EVAL test inputs, one per query."""
    x = w.dataset.x_test[:N_EVAL]
    with torch.no_grad():
        hidden = w.model.act(w.model.backbone(x)).numpy()
    node = np.empty_like(hidden)
    node[:, perm] = hidden  # coordinate i of the model lands at the node's coordinate perm[i]
    act = ViewSeries("node", "permuted_activation", "act", list(node), [4 * WIDTH] * N_EVAL,
                     meta={"permuted_axis": -1})
    weights = ViewSeries("node", "weights", "model", [{}] * N_EVAL, [0] * N_EVAL,
                         meta={"per_query_key": False})
    data = AttackData(inputs=x.numpy(), inputs_t=x, labels=w.dataset.y_test[:N_EVAL].numpy(), n_attacker=0,
                      n_eval=N_EVAL, input_kind="tabular", pad_id=0, data_range=1.0, seed=0)
    return act, weights, data


def test_surrogate_recovers_a_hidden_key_when_activations_are_informative(tmp_path):
    w = backbone_workload(tmp_path)
    perm = np.random.default_rng(7).permutation(WIDTH)
    act, weights, data = permuted_series(w, perm)
    results = surrogate_attacks(weights, [act], data, w)
    key = next(r for r in results if r.attack == "surrogate_key_recovery")
    truth = np.argsort(perm)  # the evaluator's key: node coordinate j holds model coordinate truth[j]
    assert key.metrics["attacker_knows_model"] is False
    assert key.metrics["surrogate_data"] == "test split minus the evaluated queries"
    assert key.metrics["surrogate_samples"] == len(w.dataset.x_test) - N_EVAL
    # a random guess gets 1/24 of the key; the surrogate's statistics get most of it
    assert key.metrics["key_recovery_rate"] >= 0.5, key.metrics
    assert key.leakage > 0.5 and key.min_detectable is not None and key.min_detectable <= 0.5
    assert key.metrics["curve"]["64"] == key.metrics["key_recovery_rate"]
    assert len(truth) == WIDTH
    # un-permuted, the views are read back by a probe trained only on the surrogate's own pairs
    probe = next(r for r in results if r.attack.startswith("surrogate_unpermuted_reconstruction"))
    assert probe.metrics["r2"] > 0.3, probe.metrics


def test_the_surrogate_never_starts_from_the_victims_initialization(tmp_path):
    w = backbone_workload(tmp_path)
    fresh, victim_init = fresh_surrogate(w, seed=99), w.new_model()
    assert torch.equal(fresh.backbone.weight, victim_init.backbone.weight)  # public, frozen: kept
    assert not torch.equal(fresh.head.weight, victim_init.head.weight)  # trainable: re-drawn
    x, _, source = attacker_split(w, N_EVAL, w.dataset.x_test[:N_EVAL])
    assert source.startswith("test split") and not any(torch.equal(a, b) for a in x[:5]
                                                       for b in w.dataset.x_test[:N_EVAL])
    _, _, none = attacker_split(w, N_EVAL, w.dataset.x_train[:N_EVAL])  # not the head of the test split
    assert none.startswith("none")


def test_the_suite_uses_the_surrogate_not_weight_matching_when_the_model_is_unknown():
    w = trained_workload("mlp_cancer")
    pipe = nesa_ee.NesaEEPipeline(variant="b")
    pipe.prepare(w)
    x = w.dataset.x_test[:8]  # the fewest the suite attacks (4-fold cross-validation)
    calls = []
    with torch.no_grad():
        for i in range(len(x)):
            pipe.infer(x[i : i + 1])
            calls.append(pipe.views())
    unknown = evaluate_leakage(w, None, x, calls, attacker_knows_model=False)  # no attacker-side calls
    assert unknown["attacker_knows_model"] is False
    assert "leakage.node.surrogate_key_recovery" in unknown
    assert unknown["leakage.node.surrogate_data"] == "test split minus the evaluated queries"
    assert not any(k.startswith("leakage.node.weight_") for k in unknown)
    assert "leakage.node.coordinate_matching" not in unknown  # the public model's statistics: not used
    assert not str(unknown["model_leakage_attack"]).startswith("node:weight_")
