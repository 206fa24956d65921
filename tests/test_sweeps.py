"""Sweeps at scale: a joblib sweep whose worker is killed (SIGKILL) midway resumes to every cell
recorded exactly once; the SLURM launcher config composes; the per-cell "[k/N]" progress line;
each record carries the model's parameter count and its wall time."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import CACHE_DIR, compose_config
from omegaconf import OmegaConf

from nesabench.config import validate
from nesabench.progress import SweepPosition, duration, sweep_size

ROOT = Path(__file__).resolve().parents[1]
NESABENCH = str(Path(sys.executable).with_name("nesabench"))

#: Six cells, each a distinct config (harness.repeats is part of a run's identity).
REPEATS = [3, 4, 5, 6, 7, 8]
SWEEP = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "workload=mlp_cancer", "harness=quick",
         "harness.leakage=false", "harness.eval_samples=8", "technique=plaintext",
         "technique._target_=techniques_for_sweeps.SlowSetupPipeline", "+technique.setup_s=2.0",
         f"harness.repeats={','.join(map(str, REPEATS))}"]
#: Generous for a busy 2-core machine: each job imports torch in a fresh worker.
WAIT_S = 600


def _start(results: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "NESABENCH_RESULTS": str(results), "NESABENCH_CACHE": str(CACHE_DIR),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([NESABENCH, *SWEEP, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


def _wait_gone(proc: subprocess.Popen) -> str:
    """Wait for the sweep's process and then for every process of its session (orphaned workers)."""
    out, _ = proc.communicate(timeout=WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        alive = [p for p in psutil.process_iter(["pid"]) if _session(p.pid) == proc.pid]
        if not alive:
            return out
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    return out


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def test_a_joblib_sweep_killed_midway_resumes_to_every_cell_recorded_once(tmp_path) -> None:
    results = tmp_path / "results"
    first = _start(results)
    try:
        deadline = time.monotonic() + WAIT_S
        while not list((results / "runs").glob("*.json")):  # midway: the first record is written
            assert first.poll() is None, f"the sweep ended before any record:\n{first.stdout.read()}"
            assert time.monotonic() < deadline, "no record within the time allowed"
            time.sleep(0.05)
        workers = [p for p in psutil.Process(first.pid).children(recursive=True)
                   if "LokyProcess" in " ".join(p.cmdline())]  # not loky's resource tracker
        assert workers, "the joblib launcher runs its jobs in loky worker processes"
        os.kill(workers[0].pid, signal.SIGKILL)  # a real signal to a real worker
        out = _wait_gone(first)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    done = _records(results)
    assert 1 <= len(done) < len(REPEATS), f"the kill was not midway: {len(done)} records\n{out}"

    second = _start(results, "harness.resume=true")
    out = _wait_gone(second)
    assert second.returncode == 0, out
    records = _records(results)
    assert sorted(r["latency_n"] for r in records) == REPEATS  # each cell once (its timed calls)
    assert all(r["status"] == "ok" for r in records)
    assert len({r["config_hash"] for r in records}) == len(REPEATS)
    assert {r["run_id"] for r in done} <= {r["run_id"] for r in records}  # kept, not rerun
    assert "already recorded; skipping" in out
    leftovers = [p.name for p in (results / "runs").iterdir() if p.suffix != ".json"]
    assert not leftovers, f"partial or temporary files left: {leftovers}"


def test_the_slurm_launcher_config_composes_with_the_documented_settings(tmp_path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from nesabench.cli import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", return_hydra_config=True,
                      overrides=["hydra/launcher=slurm", "hydra.launcher.partition=cpu",
                                 "hydra.launcher.timeout_min=90", "hydra.launcher.mem_gb=6",
                                 f"paths.results_dir={tmp_path}/shared"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min, launcher.mem_gb) == ("cpu", 90, 6)
    assert launcher.cpus_per_task >= 1 and launcher.tasks_per_node == 1
    # submitit's logs and pickles live in the sweep folder, under the results folder (shared storage)
    assert str(launcher.submitit_folder).startswith(f"{tmp_path}/shared/")


def test_sweep_size_and_the_progress_line() -> None:
    params = {"workload": "a,b,c,d", "technique": "p,q"}
    assert sweep_size([], params) == 8
    assert sweep_size(["technique=p"], params) == 4  # the command line replaces the config's sweep
    assert sweep_size(["+workload.model.width=8,16,32"], {"workload": "a,b"}) == 6
    pos = SweepPosition(index=3, total=8, elapsed_s=125.0)
    assert pos.tag() == "[3/8]" and pos.status() == "5 left after this, sweep elapsed 2m05s"
    assert SweepPosition(index=2, total=None, elapsed_s=None).tag() == "[2]"
    assert duration(3725) == "1h02m" and duration(12.34) == "12.3s"


def test_each_record_carries_its_models_parameter_count_and_wall_time(run) -> None:
    rec = run("workload=mlp_cancer", "technique=plaintext", "harness.leakage=false")
    assert rec.extra["workload_parameters"] == 30 * 16 + 16 + 16 * 2 + 2  # the 30-16-2 MLP
    assert rec.extra["run_s"] > 0


def test_the_overhead_table_takes_its_timing_settings_from_the_harness_group() -> None:
    table = compose_config(["experiment=overhead_table", "harness=table"]).harness
    paper = compose_config(["experiment=overhead_table"]).harness
    assert (paper.eval_samples, paper.repeats) == (100, 20)
    assert table.eval_samples < paper.eval_samples and table.repeats < paper.repeats
    assert table.resume and paper.resume


HE_POINTS = sorted(p.stem for p in (ROOT / "conf" / "he_point").glob("*.yaml"))


@pytest.mark.parametrize("workload", ["mlp_cancer", "tiny_transformer"])
def test_every_width_of_the_scaling_sweep_validates(workload: str) -> None:
    """One technique per width here (the whole sweep is 100 points; preflight checks them all)."""
    params = OmegaConf.load(ROOT / "conf" / "experiment" / "scaling.yaml").hydra.sweeper.params
    widths = str(params["+workload.model.width"]).split(",")
    techniques = str(params.technique).split(",")
    every = {p.stem for p in (ROOT / "conf" / "technique").glob("*.yaml")}
    text = (ROOT / "conf" / "experiment" / "scaling.yaml").read_text()
    left_out = every - set(techniques)  # only zk_ezkl, named in the file with its reason and its command
    assert len(widths) >= 4 and set(techniques) <= every and left_out == {"zk_ezkl"}
    assert "zk_ezkl runs" in text and "workload=mlp_cancer technique=zk_ezkl" in text
    for width, technique in zip(widths, itertools.cycle(techniques), strict=False):
        validate(compose_config(["experiment=scaling", f"workload={workload}", f"technique={technique}",
                                 f"+workload.model.width={width}"]))


@pytest.mark.parametrize("point", HE_POINTS)
def test_each_he_point_sets_a_coherent_parameter_set(point: str) -> None:
    cfg = compose_config(["experiment=he_params", f"+he_point={point}"])
    validate(cfg)
    tech = cfg.technique
    assert tech.name == point.split("_")[0].replace("ckks", "he_ckks").replace("tfhe", "he_tfhe")
    if tech.name == "he_ckks":  # the scale matches the rescaling primes, the special primes are larger
        primes = list(tech.coeff_mod_bit_sizes)
        assert all(math.log2(tech.global_scale) == b for b in primes[1:-1])
        assert primes[0] > primes[1] and primes[-1] > primes[1]
        assert f"n{tech.poly_modulus_degree}_s{primes[1]}" in point
    else:
        assert f"n{tech.n_bits}_r{tech.rounding_threshold_bits}" in point


def test_every_he_point_is_in_the_he_params_sweep() -> None:
    text = (ROOT / "conf" / "experiment" / "he_params.yaml").read_text()
    assert [p for p in HE_POINTS if p not in text] == []


def test_width_sets_the_size_of_both_scaling_models() -> None:
    from nesabench.workloads.models import MLP, TinyTransformer

    def count(m) -> int:
        return sum(p.numel() for p in m.parameters())

    assert count(MLP(30, 2, width=64)) == 30 * 64 + 64 + 64 * 2 + 2
    assert count(MLP(30, 2, width=16)) == count(MLP(30, 2))  # the default is one layer of 16
    small, large = TinyTransformer(32, 16, 3, width=16), TinyTransformer(32, 16, 3, width=64)
    assert large.embed.embedding_dim == 64 and large.blocks[0].ff1.out_features == 128
    assert count(TinyTransformer(32, 16, 3, width=32)) == count(TinyTransformer(32, 16, 3))
    assert count(large) > 8 * count(small)


def test_a_quality_pass_over_its_budget_stops_and_cuts_the_timed_calls(run, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    slow = ["workload=mlp_cancer", "technique._target_=techniques_for_sweeps.SlowInferPipeline",
            "+technique.infer_s=0.2", "harness.eval_samples=8", "harness.repeats=5", "harness.leakage=false"]
    rec = run(*slow, "harness.max_eval_s=0.3")
    assert rec.status == "ok", rec.reason
    assert 1 <= rec.eval_samples <= 2 and rec.extra["eval_budget_hit"]  # stops after the crossing sample
    assert 1 <= rec.latency_n < 5 and rec.extra["timing_budget_hit"]
    full = run(*slow)
    assert full.eval_samples == 8 and full.latency_n == 5 and "eval_budget_hit" not in full.extra
    assert full.config_hash != rec.config_hash
    fast = run("workload=mlp_cancer", "technique=plaintext", "harness.leakage=false", "harness.max_eval_s=30")
    assert fast.eval_samples == 64 and "eval_budget_hit" not in fast.extra  # fast techniques never reach it


def test_a_call_longer_than_the_budget_is_timed_from_the_quality_pass(run, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    rec = run("workload=mlp_cancer", "technique._target_=techniques_for_sweeps.SlowInferPipeline",
              "+technique.infer_s=0.4", "harness.eval_samples=8", "harness.repeats=5",
              "harness.leakage=false", "harness.max_eval_s=0.3")
    assert rec.status == "ok", rec.reason
    assert rec.eval_samples == 1 and rec.extra["timing_from_quality_pass"]
    assert rec.latency_n == 1 and 0.4 <= rec.latency_p50_s < 0.4 + 0.3  # the one call the pass made
