"""The leakage summary in real harness records, and the switch that turns it off."""

from __future__ import annotations


def test_plaintext_record_carries_the_leakage_summary(run):
    record = run("workload=cnn_digits", "technique=plaintext", "harness.eval_samples=48")
    assert record.status == "ok", record.reason
    d = record.to_dict()
    assert d["input_privacy"] <= 0.2
    assert d["leakage_attack"].startswith("node:")
    assert d["leakage.node.r2"] > 0.95 and d["leakage.node.ssim"] > 0.9
    assert d["leakage_attacker_samples"] >= 32 and d["leakage_eval_samples"] == 48
    assert d["leakage_complete"] is True
    # Leakage evaluation is not part of the latency.
    assert d["latency_p50_s"] < d["leakage_s"]


def test_harness_leakage_false_turns_it_off(run):
    record = run("workload=mlp_cancer", "technique=plaintext", "harness.leakage=false")
    assert record.status == "ok", record.reason
    assert "input_privacy" not in record.to_dict()
