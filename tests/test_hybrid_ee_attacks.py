"""The node's weights give the EE key away (real MiniLM weights, key applied here), records never
hold the key, and the weights view is counted once per setup (per query only when re-sent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import trained_workload

from nesabench.hybrid import keys as K
from nesabench.hybrid import nesa_ee
from nesabench.hybrid.ee import encrypt_model
from nesabench.hybrid.nesa_ee import special_token_ids, weights_payload
from nesabench.leakage import views as V
from nesabench.leakage.suite import AttackData
from nesabench.leakage.weight_attacks import axis_members, weight_attacks, weight_record_keys
from nesabench.leakage.weight_matching import match_axis, verified_fraction, vocabulary_key


@pytest.fixture(scope="module")
def minilm_folded():
    w = trained_workload("minilm")
    key = K.draw_key("b", special_tokens=special_token_ids(w))
    node = encrypt_model(w.model, key)
    state, _ = weights_payload(node)
    return w, key, state


def test_weight_matching_recovers_the_hidden_key_of_real_minilm(minilm_folded):
    w, key, state = minilm_folded
    public = w.model.state_dict()
    truth = key._perms["hidden"].numpy()
    for layer in ("encoder.embeddings", "encoder.encoder.layer.2", "encoder.encoder.layer.5"):
        members = axis_members(w.model, layer, 384)
        found = match_axis(public, state, members)
        assert np.array_equal(found, truth), layer
        assert verified_fraction(public, state, members, found) == 1.0
    # the per-layer FFN permutation, from the intermediate layer's rows
    inter = key._perms["encoder.encoder.layer.3.intermediate"].numpy()
    rows = [("encoder.encoder.layer.3.intermediate.dense.weight", 0),
            ("encoder.encoder.layer.3.intermediate.dense.bias", 0)]
    assert np.array_equal(match_axis(public, state, rows), inter)
    # a wrong key does not pass the attacker's own check
    wrong = np.roll(truth, 1)
    assert verified_fraction(public, state, axis_members(w.model, "encoder.embeddings", 384), wrong) < 0.05


def test_weight_matching_recovers_the_vocabulary_key_of_real_minilm(minilm_folded):
    w, key, state = minilm_folded
    table = "encoder.embeddings.word_embeddings.weight"
    found = vocabulary_key(w.model.state_dict()[table], state[table])
    truth = key._perms["vocab"].numpy()
    used = np.unique(w.dataset.x_test.numpy())
    node_ids = np.argsort(truth)[used]  # the ids the node sees for the dataset's tokens
    assert np.array_equal(found[node_ids], used)  # every token of the text is read back
    assert np.mean(found == truth) > 0.99  # (a few unused tokens share identical rows)


def test_the_key_never_lands_in_a_record_or_the_log(run, monkeypatch, caplog, tmp_path):
    drawn: list[K.EEKey] = []

    def spy(*args, **kwargs):
        drawn.append(K.draw_key(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(nesa_ee, "draw_key", spy)
    rec = run("workload=mlp_cancer", "technique=nesa_ee", "harness.leakage=false")
    assert rec.status == "ok" and drawn
    files = list(Path(tmp_path).rglob("*.json"))
    assert files
    text = json.dumps(rec.to_dict()) + "".join(p.read_text() for p in files) + caplog.text
    compact = text.replace(" ", "")
    for perm in drawn[0]._perms.values():
        values = perm.tolist()
        assert str(values).replace(" ", "") not in compact
        assert ",".join(map(str, values[:6])) not in compact
    assert "key.hidden" in text and '"fixed"' in text  # which parts were on, and how


def test_weights_count_once_per_setup_and_per_query_when_resent(run):
    fixed = run("workload=mlp_cancer", "technique=nesa_ee", "harness.leakage=false")
    fresh = run("workload=mlp_cancer", "technique=nesa_ee", "technique.variant=d", "harness.leakage=false")
    n_features = trained_workload("mlp_cancer").dataset.x_test.shape[1]
    assert fixed.status == fresh.status == "ok"
    assert fixed.accuracy_loss == 0 and fresh.accuracy_loss == 0
    extra_fixed, extra_fresh = fixed.to_dict(), fresh.to_dict()
    weights = extra_fixed["setup_bytes_to_nodes"]
    assert weights > 0
    assert fixed.bytes_to_nodes == 4 * n_features  # only the permuted input per query
    assert fresh.bytes_to_nodes >= weights + 4 * n_features  # the whole model again, every query
    assert extra_fresh["setup_bytes_to_nodes"] == 0


@pytest.mark.slow
def test_the_record_states_whether_the_attacker_knows_the_model(run):
    rec = run("workload=mlp_cancer", "technique=nesa_ee", "harness.attacker_knows_model=false")
    d = rec.to_dict()
    assert d["attacker_knows_model"] is False
    assert not str(d.get("model_leakage_attack", "")).startswith("node:weight_")


def node_series(name: str, variant: str, n: int = 16):
    w = trained_workload(name)
    pipe = nesa_ee.NesaEEPipeline(variant=variant)
    pipe.prepare(w)
    x = w.dataset.x_test[:n]
    calls = []
    with torch.no_grad():
        for i in range(n):
            pipe.infer(x[i : i + 1])
            calls.append(pipe.views())
    series = V.collect([1] * n, calls)
    ds = w.dataset
    data = AttackData(inputs=x.numpy(), inputs_t=x, labels=ds.y_test[:n].numpy(), n_attacker=0, n_eval=n,
                      input_kind=ds.input_kind, pad_id=int(ds.meta.get("pad_id", 0)),
                      data_range=float(ds.meta.get("data_range", 1.0)), seed=0)
    weights = next(s for s in series if s.kind == "weights")
    return w, weights, [s for s in series if s.kind != "weights"], data


@pytest.mark.parametrize("variant", ["b", "d"])
def test_weight_attacks_undo_fixed_and_per_query_keys_on_mlp(variant: str):
    w, weights, others, data = node_series("mlp_cancer", variant)
    results = weight_attacks(weights, others, data, w)
    keys = [r for r in results if r.attack == "weight_key_recovery"]
    assert len(keys) == len([s for s in others if s.kind == "permuted_activation"])
    assert all(r.metrics["key_recovery_rate"] == 1.0 and r.metrics["exact_fraction"] == 1.0 for r in keys)
    record = weight_record_keys("node", results)
    assert record["leakage.node.weight_unpermuted_input"] == 1.0  # the permuted input read back verbatim
    unknown = weight_attacks(weights, others, data, w, attacker_knows_model=False)
    assert unknown[-1].attack == "weight_matching" and unknown[-1].metrics["skipped"]  # recorded as not used
    assert all(r.metrics["attacker_knows_model"] is False for r in unknown)
    assert not any(r.attack.startswith("weight_key") for r in unknown)  # the surrogate attack instead
    assert any(r.attack == "surrogate_key_recovery" for r in unknown)


@pytest.mark.slow
def test_mlp_record_carries_the_weight_attack(run):
    rec = run("workload=mlp_cancer", "technique=nesa_ee", "harness.eval_samples=16")
    d = rec.to_dict()
    assert rec.status == "ok" and d["attacker_knows_model"] is True
    assert d["input_privacy"] == 0.0 and d["model_privacy"] == 0.0
    assert d["model_leakage_attack"].startswith("node:weight_key_recovery")
    assert d["leakage.node.weight_key_recovery"] == 1.0  # every permuted axis, verified on the weights
    assert d["leakage.node.weight_unpermuted_input"] == 1.0  # the permuted input read back verbatim


@pytest.mark.slow
def test_minilm_default_variant_record(run):
    rec = run("workload=minilm", "technique=nesa_ee")
    d = rec.to_dict()
    assert rec.status == "ok" and rec.accuracy_loss == 0
    assert rec.fidelity_max_abs_err <= 1e-4
    assert d["model_privacy"] is not None and d["input_privacy"] is not None
    assert d["leakage_attack"].startswith("node:weight_")
    assert d["model_leakage_attack"].startswith("node:weight_")


def test_a_rotated_stream_is_recovered_from_the_weights_by_least_squares():
    w, weights, others, data = node_series("tiny_transformer", "e")
    results = weight_attacks(weights, others, data, w)
    rotated = [r for r in results if r.attack == "weight_key_recovery" and r.metrics["rotation"]]
    assert rotated and all(r.metrics["key_recovery_rate"] == 1.0 for r in rotated)
    inversion = next(r for r in results if r.attack == "weight_embedding_inversion")
    assert inversion.metrics["token_recovery"] == 1.0  # every token read back after un-rotating
