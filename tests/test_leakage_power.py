"""Not attacked is not private: scores need an attack with the power to see the leak it tests for."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from nesabench.leakage.attribute import attribute_probe
from nesabench.leakage.distance_correlation import min_detectable_dcor
from nesabench.leakage.reconstruction import token_probe
from nesabench.leakage.result import ALPHA, AttackResult
from nesabench.leakage.significance import binomial_outcome, min_detectable_advantage, sequence_outcome
from nesabench.leakage.summary import NOT_SCORED, PartySummary, privacy_cell, record_keys

# -- the one significance helper ---------------------------------------------------------------


def test_binomial_outcome_is_scipys_test_and_wilson_interval():
    out = binomial_outcome(70, 100, 0.5)
    ref = binomtest(70, 100, 0.5, alternative="greater")
    ci = binomtest(70, 100).proportion_ci(method="wilson")
    assert out.p_value == pytest.approx(ref.pvalue)
    assert (out.ci_low, out.ci_high) == pytest.approx((ci.low, ci.high))
    assert out.leakage == pytest.approx(0.4)  # (0.7 - 0.5) / (1 - 0.5)
    # Same rate, too few trials: not significant, no leakage.
    assert binomial_outcome(7, 10, 0.5).leakage == 0.0


def test_minimum_detectable_advantage_is_the_threshold_of_the_test():
    # Eight fair-coin trials cannot reach p < 0.001 even when all are right.
    assert math.isinf(min_detectable_advantage(8, 0.5))
    for n, chance in ((40, 0.5), (114, 0.63), (300, 0.1)):
        mde = min_detectable_advantage(n, chance)
        k = round((chance + mde * (1 - chance)) * n)
        assert binomtest(k, n, chance, alternative="greater").pvalue < ALPHA
        assert binomtest(k - 1, n, chance, alternative="greater").pvalue >= ALPHA
    assert min_detectable_advantage(400, 0.5) < min_detectable_advantage(100, 0.5)


def test_attacks_report_the_power_of_their_test():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    x = rng.normal(size=(60, 3))
    folds = [(np.arange(40), np.arange(40, 60))]
    res = attribute_probe(x, labels, folds)
    assert res.min_detectable == pytest.approx(min_detectable_advantage(20, res.metrics["chance"]))
    assert min_detectable_dcor(8) > min_detectable_dcor(200) > 0


def test_token_tests_count_sequences_not_positions():
    """Ten sequences of 16 tokens are ten trials: a 16-fold inflated n would call this a leak."""
    hits = [1.0] * 7 + [0.0] * 3  # each sequence all right or all wrong: positions are not independent
    chance = [0.5] * 10
    assert sequence_outcome(hits, chance).leakage == 0.0
    assert binomtest(7 * 16, 160, 0.5, alternative="greater").pvalue < ALPHA  # what positions would say
    # The probe itself reports sequences as its trials.
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 6, size=(40, 6))
    ids[:, 4:] = 0  # padding
    views = [np.eye(8)[row] for row in ids]  # the view is the one-hot input: full recovery
    res = token_probe(views, ids, [(np.arange(30), np.arange(30, 40))], pad_id=0)
    assert res.n_test == 10 and res.metrics["positions"] == 40
    expected = binomtest(10, 10, res.metrics["chance"], alternative="greater").pvalue
    assert res.metrics["p_value"] == pytest.approx(expected)


# -- party verdicts --------------------------------------------------------------------------------


def _attack(leak: float, power: float | None, target: str = "input") -> AttackResult:
    return AttackResult("probe", leak, target=target, n_test=20, min_detectable=power)


def test_no_attack_or_underpowered_attacks_are_not_scored():
    assert PartySummary("node").privacy("input") is None
    weak = PartySummary("node", [_attack(0.0, math.inf), _attack(0.0, 0.7)])
    verdict = weak.verdict("input")
    assert verdict.privacy is None and "underpowered" in verdict.reason
    strong = PartySummary("node", [_attack(0.0, math.inf), _attack(0.0, 0.2)])
    assert strong.verdict("input").privacy == 1.0 and strong.verdict("input").detectable == 0.2


def test_skipped_or_failed_views_make_the_score_null_unless_already_zero():
    party = PartySummary("node", [_attack(0.0, 0.1)], unattacked=["view x skipped: 3 samples for 8 inputs"])
    verdict = party.verdict("input")
    assert verdict.privacy is None and "skipped" in verdict.reason
    leaked = PartySummary("node", [_attack(1.0, 0.1)], unattacked=["attacks on y failed: ValueError"])
    assert leaked.privacy("input") == 0.0


def test_record_is_not_scored_when_a_party_is_not():
    good = PartySummary("node0", [_attack(0.0, 0.1), _attack(0.0, 0.1, "model")])
    weak = PartySummary("node1", [_attack(0.0, math.inf), _attack(0.0, 0.1, "model")])
    out = record_keys([good, weak])
    assert out["input_privacy"] is None and "node1" in out["input_privacy_reason"]
    assert out["leakage.node0.input_privacy"] == 1.0 and out["leakage.node1.input_privacy"] is None
    assert out["model_privacy"] == 1.0 and out["model_leakage_detectable"] == 0.1
    leaking = PartySummary("node2", [_attack(1.0, 0.05)])
    assert record_keys([weak, leaking])["input_privacy"] == 0.0  # cannot be lower, whatever node1 says
    assert record_keys([], reason="nothing seen")["input_privacy"] is None


def test_table_text_tells_not_scored_from_private():
    assert privacy_cell(None) == NOT_SCORED
    assert privacy_cell(float("nan")) == NOT_SCORED
    assert privacy_cell(1.0, 0.12) == "1.00 (MDE 0.12)"
    assert privacy_cell(0.25) == "0.25"


# -- real runs -------------------------------------------------------------------------------------


def test_no_views_are_not_scored():
    from types import SimpleNamespace

    from nesabench.leakage.suite import evaluate_leakage
    from nesabench.workloads.data import breast_cancer

    ds = breast_cancer()
    out = evaluate_leakage(SimpleNamespace(dataset=ds, model=None, seed=0), None, ds.x_test[:64], [[], []])
    assert out["input_privacy"] is None and out["model_privacy"] is None
    assert privacy_cell(out["input_privacy"]) == NOT_SCORED


def test_real_ckks_ciphertexts_of_mlp_cancer_are_scored():
    """Sound ciphertexts at adequate n score (high), with the power that backs the score."""
    from types import SimpleNamespace

    ts = pytest.importorskip("tenseal")
    from nesabench.leakage.suite import evaluate_leakage
    from nesabench.pipeline import PartyView
    from nesabench.workloads.data import breast_cancer

    ds = breast_cancer()
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=4096, coeff_mod_bit_sizes=[40, 20, 40])
    ctx.global_scale = 2**20
    x = ds.x_test[:96]
    blobs = [ts.ckks_vector(ctx, row.tolist()).serialize() for row in x.numpy()]
    views = [[PartyView("node", "ciphertext", "input", blobs[i : i + 8])] for i in range(0, len(x), 8)]
    out = evaluate_leakage(SimpleNamespace(dataset=ds, model=None, seed=0), None, x, views)
    assert out["input_privacy"] is not None and out["input_privacy"] >= 0.9, out
    assert out["input_leakage_detectable"] <= 0.5


@pytest.mark.slow
def test_a_run_without_views_is_not_scored(run):
    """he_tfhe with fhe=simulate records no view: nothing was attacked, so nothing is scored."""
    pytest.importorskip("concrete.ml")
    record = run("workload=mlp_cancer", "technique=he_tfhe", "technique.fhe=simulate").to_dict()
    assert record["status"] == "ok", record.get("reason")
    assert record["input_privacy"] is None and record["model_privacy"] is None
    assert "no view" in record["input_privacy_reason"]
    assert record["leakage_complete"] is False


def test_eight_plaintext_samples_leak_or_are_not_scored(run):
    record = run("workload=mlp_cancer", "technique=plaintext", "harness.eval_samples=8").to_dict()
    assert record["status"] == "ok", record.get("reason")
    assert record["input_privacy"] is None or record["input_privacy"] < 1.0
    assert record["input_privacy"] != 1.0


@pytest.mark.slow
def test_sound_ciphertexts_at_adequate_n_are_scored(run):
    """CKKS on mlp_cancer: the node's ciphertexts are attacked with power, and score high."""
    pytest.importorskip("tenseal")
    record = run("workload=mlp_cancer", "technique=he_ckks", "technique.finetune_epochs=2").to_dict()
    assert record["status"] == "ok", record.get("reason")
    assert record["leakage.node.input_privacy"] is not None
    assert record["leakage.node.input_privacy"] >= 0.9
    assert record["leakage.node.input_detectable"] <= 0.5
    assert record["model_privacy"] == 0.0  # the node evaluates with the plaintext weights
