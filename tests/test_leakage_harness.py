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
    # That leakage evaluation is not part of the latency: tests/test_measurement_order.py.


def test_harness_leakage_false_turns_it_off(run):
    record = run("workload=mlp_cancer", "technique=plaintext", "harness.leakage=false")
    assert record.status == "ok", record.reason
    assert "input_privacy" not in record.to_dict()


def test_too_few_samples_are_reported_not_scored() -> None:
    """A technique that affords one encrypted sample gets no privacy score it was never tested for."""
    from types import SimpleNamespace

    from nesabench.leakage.suite import evaluate_leakage
    from nesabench.pipeline import PartyView
    from nesabench.workloads.data import breast_cancer

    ds = breast_cancer()
    workload = SimpleNamespace(dataset=ds, model=None, seed=0)
    x = ds.x_test[:1]
    views = [[PartyView("node", "ciphertext", "input", [b"\x01" * 64])]]
    out = evaluate_leakage(workload, None, x, views)
    assert out["input_privacy"] is None and out["leakage_complete"] is False
    assert "too few samples" in out["leakage_errors"]


def test_a_pipeline_too_slow_for_the_budget_is_not_called_again() -> None:
    """With a measured latency of minutes per sample, the attacker gathers no pairs and calls nothing."""
    from types import SimpleNamespace

    from nesabench.leakage.suite import attacker_pairs
    from nesabench.workloads.data import breast_cancer

    class Untouchable:
        def infer(self, x):
            raise AssertionError("a slow pipeline must not be run for attacker pairs")

        def views(self):
            return []

    workload = SimpleNamespace(dataset=breast_cancer())
    x_att, views, sizes = attacker_pairs(workload, Untouchable(), 1, per_sample_s=120.0)
    assert len(x_att) == 0 and views == [] and sizes == []
