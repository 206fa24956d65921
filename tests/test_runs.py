"""End to end: plaintext on every workload, bring-your-own models, failures recorded, resumable sweeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CACHE_DIR
from test_harness import REQUIRED_KEYS

ROOT = Path(__file__).resolve().parents[1]
NESABENCH = str(Path(sys.executable).with_name("nesabench"))

# Accuracy the plaintext model reaches on each built-in workload (seed 0): a broken dataset, model or
# training recipe shows up here first.
MIN_ACCURACY = {"mlp_cancer": 0.9, "cnn_digits": 0.9, "tiny_transformer": 0.85, "minilm": 0.9}


@pytest.mark.parametrize("workload", list(MIN_ACCURACY))
def test_plaintext_runs_on_every_workload(run, workload: str) -> None:
    rec = run(f"workload={workload}", "technique=plaintext", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert rec.accuracy >= MIN_ACCURACY[workload]
    # The plaintext technique is the model itself: exact agreement, ratio near 1 (timing noise aside).
    assert rec.fidelity_agreement == 1.0 and rec.accuracy_loss == 0.0
    assert rec.fidelity_max_abs_err < 1e-5
    assert rec.slowdown > 0  # a ratio, not a timing goal: timing goals live in records
    assert rec.latency_p95_s >= rec.latency_p50_s > 0
    assert rec.bytes_to_nodes > 0 and "node:plain_input" in rec.view_kinds


def _cli(tmp_path: Path, *args: str, pythonpath: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "NESABENCH_RESULTS": str(tmp_path), "NESABENCH_CACHE": str(CACHE_DIR),
           "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, str(ROOT)) if p)}
    return subprocess.run([NESABENCH, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def _records(tmp_path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "runs").glob("*.json"))]


def test_cli_writes_one_record_with_the_documented_keys(tmp_path) -> None:
    proc = _cli(tmp_path, "workload=mlp_cancer", "technique=plaintext", "harness=quick",
                "harness.leakage=false")
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(tmp_path)
    assert rec.keys() >= REQUIRED_KEYS
    assert rec["status"] == "ok" and rec["overrides"][0] == "workload=mlp_cancer"
    assert rec["versions"]["torch"].startswith("2.13")


def test_bring_your_own_model_through_the_cli(tmp_path) -> None:
    proc = _cli(tmp_path, "workload=mlp_cancer", "technique=plaintext", "harness=quick",
                "harness.leakage=false", "workload.model._target_=byo_model.WideMLP",
                pythonpath=str(ROOT / "examples"))
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(tmp_path)
    assert rec["status"] == "ok" and rec["accuracy"] >= 0.9


def test_bring_your_own_model_that_ignores_the_workload_arguments(run, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    rec = run("workload=mlp_cancer", "technique=plaintext", "harness.leakage=false",
              "workload.model._target_=byo_model.FixedCancerNet")
    assert rec.status == "ok" and rec.accuracy >= 0.9


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, launcher: str) -> None:
    proc = _cli(tmp_path, "-m", f"hydra/launcher={launcher}", "workload=mlp_cancer", "harness=quick",
                "harness.leakage=false",
                "technique._target_=techniques_for_tests.ExplodingPipeline,baselines.plaintext.PlaintextPipeline",
                pythonpath=str(ROOT / "tests"))
    assert proc.returncode == 0, proc.stderr
    by_status = {r["status"]: r for r in _records(tmp_path)}
    assert set(by_status) == {"failed", "ok"}
    assert "boom in prepare" in by_status["failed"]["reason"]
    assert "RuntimeError" in by_status["failed"]["traceback"]


def test_single_failed_run_exits_nonzero(tmp_path) -> None:
    proc = _cli(tmp_path, "workload=mlp_cancer", "harness=quick",
                "technique._target_=techniques_for_tests.ExplodingPipeline", pythonpath=str(ROOT / "tests"))
    assert proc.returncode == 1
    assert _records(tmp_path)[0]["status"] == "failed"


def test_bad_config_exits_with_a_clear_message_and_writes_nothing(tmp_path) -> None:
    proc = _cli(tmp_path, "harness.repeats=0")
    assert proc.returncode == 2 and "harness.repeats must be >= 1" in proc.stderr
    proc = _cli(tmp_path, "harness.repets=3")
    assert proc.returncode != 0 and "harness accepts: warmup, repeats" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_unsupported_is_a_result_with_its_estimate(run, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    rec = run("workload=mlp_cancer", "technique._target_=techniques_for_tests.RefusingPipeline",
              "+technique.estimated_latency_s=2.0")
    assert rec.status == "unsupported" and rec.reason == "softmax is out of reach"
    assert rec.estimated is True and rec.latency_p50_s == 2.0
    assert rec.slowdown == pytest.approx(2.0 / rec.plaintext_latency_p50_s)


def test_resume_skips_runs_already_recorded(run, tmp_path, monkeypatch) -> None:
    """A resumed run neither loads the workload nor runs anything, and leaves the record untouched."""
    import nesabench.harness.runner as runner

    first = run("workload=mlp_cancer", "technique=plaintext", "harness.leakage=false", "harness.resume=true")
    assert first.status == "ok", first.reason
    (recorded,) = (tmp_path / "runs").glob("*.json")
    before = recorded.read_bytes()

    def must_not_run(*args, **kwargs):
        raise AssertionError("a resumed run loaded its workload")

    monkeypatch.setattr(runner, "load_workload", must_not_run)
    second = run("workload=mlp_cancer", "technique=plaintext", "harness.leakage=false", "harness.resume=true")
    assert first.config_hash == second.config_hash
    assert [p.name for p in (tmp_path / "runs").glob("*.json")] == [recorded.name]
    assert recorded.read_bytes() == before
