"""Attacks and audits run after timing: nothing but the technique's calls is inside the latency."""

from __future__ import annotations

from typing import Any

import nesabench.harness.runner as runner
import nesabench.harness.training_audit as training_audit
import nesabench.leakage.suite as suite


def test_leakage_and_audits_start_after_the_last_timed_call(run, monkeypatch) -> None:
    events: list[str] = []
    time_calls, evaluate_leakage, audit_training = runner.time_calls, suite.evaluate_leakage, \
        training_audit.audit_training

    def timed(*args: Any, **kwargs: Any):
        events.append("timing")
        return time_calls(*args, **kwargs)

    def leakage(*args: Any, **kwargs: Any):
        events.append("leakage")
        return evaluate_leakage(*args, **kwargs)

    def audit(*args: Any, **kwargs: Any):
        events.append("audit")
        return audit_training(*args, **kwargs)

    monkeypatch.setattr(runner, "time_calls", timed)
    monkeypatch.setattr(suite, "evaluate_leakage", leakage)
    monkeypatch.setattr(training_audit, "audit_training", audit)
    record = run("workload=mlp_cancer", "technique=plaintext", "harness.eval_samples=32")
    assert record.status == "ok", record.reason
    assert "leakage" in events and "audit" in events and "timing" in events
    last_timing = max(i for i, e in enumerate(events) if e == "timing")
    assert events.index("leakage") > last_timing and events.index("audit") > last_timing
