"""The harness's budgets for `make table`: the leakage pass's attacker side honours its sample cap and
its wall time, records when time cut it short, and a leak stays visible at the sizes it leaves."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from baselines.plaintext import PlaintextPipeline
from nesabench.build import ConfigError
from nesabench.config import HarnessConfig
from nesabench.harness.runner import HARNESS_DEFAULTS, LEAKAGE_BUDGET
from nesabench.harness.training_audit import SHADOWS

ROOT = Path(__file__).resolve().parents[1]


class PausedPlaintext(PlaintextPipeline):
    """Plaintext (the node reads the input: a leak every probe must see) taking ``infer_s`` a call."""

    def __init__(self, infer_s: float = 0.05) -> None:
        super().__init__()
        self.infer_s = infer_s

    def infer(self, x):
        time.sleep(self.infer_s)
        return super().infer(x)


class AuditedPlaintext(PlaintextPipeline):
    """Plaintext offering the workload's model to the membership audit; shadows must not be needed."""

    def prepare(self, workload) -> None:
        super().prepare(workload)
        self._workload = workload

    def trained_model(self):
        from nesabench.pipeline import TrainedModel

        def no_shadows(x, y, seed):
            raise AssertionError("harness.mia_shadows=0 must train no shadow")

        ds = self._workload.dataset
        return TrainedModel(model=self._workload.model, train_x=ds.x_train, train_y=ds.y_train,
                            retrain=no_shadows)


SLOW = ["workload=mlp_cancer", "technique._target_=test_harness_budget.PausedPlaintext",
        "+technique.infer_s=0.05", "harness.eval_samples=8", "harness.repeats=1", "harness.warmup=0"]


@pytest.fixture
def slow_run(run, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    return lambda *extra: run(*SLOW, *extra)


def test_attacker_pairs_stop_at_the_harness_sample_cap(slow_run) -> None:
    rec = slow_run("harness.leakage_attacker_samples=40", "harness.leakage_attacker_s=60")
    assert rec.status == "ok", rec.reason
    # 40 asked, time to spare: not the default 256 (gathered in batches of 32 after a first single call)
    assert 32 <= rec.extra["leakage_attacker_samples"] <= 40
    assert "leakage_attacker_budget_hit" not in rec.extra
    assert rec.extra["input_privacy"] == 0.0  # plaintext: the leak is seen at that size


def test_attacker_pairs_stop_at_the_harness_time_budget_and_say_so(slow_run) -> None:
    # 0.05 s a call: 0.2 s buys 4 pairs, too few to train a probe on, so none are gathered; the
    # probes cross-validate on the 8 evaluated pairs and still read the plaintext input.
    rec = slow_run("harness.leakage_attacker_s=0.2")
    assert rec.status == "ok", rec.reason
    assert rec.extra["leakage_attacker_samples"] == 0 and rec.extra["leakage_attacker_budget_hit"]
    assert rec.extra["input_privacy"] == 0.0


def test_leakage_budget_is_in_a_runs_identity_only_when_not_the_default(slow_run) -> None:
    default = slow_run("harness.leakage=false")
    same = slow_run("harness.leakage=false", "harness.leakage_attacker_samples=256")
    other = slow_run("harness.leakage=false", "harness.leakage_attacker_samples=64")
    assert default.config_hash == same.config_hash != other.config_hash


def test_membership_audit_trains_as_many_shadows_as_the_harness_says(run, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    rec = run("workload=mlp_cancer", "technique._target_=test_harness_budget.AuditedPlaintext",
              "harness.leakage=false", "harness.mia_shadows=0")
    assert rec.status == "ok", rec.reason
    assert rec.extra["mia_shadows"] == 0 and rec.extra["plaintext_mia_shadows"] == 0
    assert "mia_lira_auc" not in rec.extra and rec.extra["mia_attack"] == "loss"


def test_harness_budget_defaults_are_the_suites_and_bad_values_are_refused() -> None:
    from nesabench.leakage import suite

    assert set(LEAKAGE_BUDGET) <= set(HARNESS_DEFAULTS)
    assert HARNESS_DEFAULTS["leakage_attacker_samples"] == suite.MAX_ATTACKER_SAMPLES
    assert HARNESS_DEFAULTS["leakage_attacker_s"] == suite.ATTACKER_BUDGET_S
    assert HARNESS_DEFAULTS["mia_shadows"] == SHADOWS
    with pytest.raises(ConfigError, match="leakage_attacker_samples"):
        HarnessConfig(leakage_attacker_samples=-1)
    with pytest.raises(ConfigError, match="leakage_attacker_s"):
        HarnessConfig(leakage_attacker_s=-0.5)
    with pytest.raises(ConfigError, match="mia_shadows"):
        HarnessConfig(mia_shadows=1)


def test_progress_line_gives_a_time_to_the_end_from_the_mean_job_so_far() -> None:
    from nesabench.progress import SweepPosition

    pos = SweepPosition(index=3, total=8, elapsed_s=120.0)
    assert pos.status(done=2) == ("5 left after this, sweep elapsed 2m00s, "
                                  "about 6m00s to go at the mean job so far")  # 6 jobs of 1m each
    assert pos.status(done=3).endswith("about 3m20s to go at the mean job so far")
    assert "to go" not in pos.status(done=0) and "to go" not in SweepPosition(8, 8, 60.0).status(done=8)
