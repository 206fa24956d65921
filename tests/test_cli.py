"""The real CLI, as a newcomer meets it: mistakes get the project's message and exit 2 with no
record, resumed runs return their recorded status, and after the mistakes the report is clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CACHE_DIR
from techniques_for_cli_tests import CHATTY_LINE

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["workload=mlp_cancer", "harness=quick", "harness.leakage=false"]


def cli(results: Path, *args: str, program: str = "nesabench.cli", main: str = "",
        pythonpath: str = "") -> subprocess.CompletedProcess:
    """``nesabench ...`` from this tree in a subprocess, results in ``results``; ``main`` runs
    another entry point. Each call costs a torch import: the variants of a mistake run in-process
    (``in_process``) and one of each kind here."""
    env = {**os.environ, "NESABENCH_RESULTS": str(results), "NESABENCH_CACHE": str(CACHE_DIR),
           "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, str(ROOT), str(ROOT / "tests")) if p)}
    env.pop("NESABENCH_FIGURES", None)
    code = f"import sys; from nesabench.cli import {main}; sys.argv[1:] = {list(args)!r}; {main}()"
    cmd = [sys.executable, "-c", code] if main else [sys.executable, "-m", program, *args]
    return subprocess.run(cmd, cwd=results, env=env, capture_output=True, text=True, timeout=600)


def in_process(monkeypatch, capsys, results: Path, *args: str) -> tuple[int, str]:
    """The same ``nesabench`` entry point called in this process, for mistakes it refuses before
    running anything: (exit code, stderr)."""
    from nesabench.cli import main

    monkeypatch.setenv("NESABENCH_RESULTS", str(results))
    monkeypatch.setattr(sys, "argv", ["nesabench", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


@pytest.mark.parametrize(("args", "expected"), [
    (["technique=dp_sgd", "technique.epochs=ten"],
     "technique.epochs='ten' is not accepted; epochs must be an integer"),
    (["technique=dp_input", "technique.epsilon=high"],
     "technique.epsilon='high' is not accepted; epsilon must be a number"),
    (["technique=dp_input", "technique.epsilon=-1"], "epsilon must be a number > 0"),
    (["technique=dp_sgd", "technique.optimizer=adamw"], "optimizer must be one of adam, sgd"),
    (["technique=he_tfhe", "technique.n_bits=40"], "n_bits must be an integer >= 2 and <= 16"),
])
def test_wrong_parameter_type_or_range_exits_2_naming_it_with_no_record(tmp_path, monkeypatch, capsys, args,
                                                                       expected) -> None:
    code, err = in_process(monkeypatch, capsys, tmp_path, *QUICK, *args)
    assert code == 2 and expected in err
    assert not (tmp_path / "runs").exists()


def test_wrong_parameter_type_through_the_real_cli(tmp_path) -> None:
    proc = cli(tmp_path, *QUICK, "technique=dp_sgd", "technique.epochs=ten")
    assert proc.returncode == 2, proc.stderr
    assert "technique.epochs='ten' is not accepted; epochs must be an integer" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("arg", "expected"), [
    ("technique=dp_sgd technique.epoks=3",
     "technique dp_sgd has no parameter epoks; it accepts: target_epsilon"),
    ("technique=dp_sgd +technique.epoks=3",
     "technique dp_sgd has no parameter epoks; it accepts: target_epsilon"),
    ("workload.dataset.test_fractoin=0.3",
     "workload.dataset has no parameter test_fractoin; it accepts: test_fraction"),
    ("+workload.model.hiden=[8]",
     "workload.model has no parameter hiden; it accepts: in_features, num_classes, hidden"),
    ("workload.train.epoch=3", "workload.train has no parameter epoch; it accepts:"),
    ("harness.repets=3", "harness accepts: warmup, repeats"),
])
def test_misspelt_key_with_or_without_plus_names_the_accepted_keys(tmp_path, monkeypatch, capsys, arg,
                                                                  expected) -> None:
    code, err = in_process(monkeypatch, capsys, tmp_path, *QUICK, *arg.split())
    assert code == 2 and expected in err and "To append to your config" not in err
    assert not (tmp_path / "runs").exists()


def test_misspelt_key_without_plus_through_the_real_cli(tmp_path) -> None:
    proc = cli(tmp_path, *QUICK, "technique=dp_sgd", "technique.epoks=3")
    assert proc.returncode == 2, proc.stderr
    assert "technique dp_sgd has no parameter epoks; it accepts: target_epsilon" in proc.stderr
    assert "To append" not in proc.stderr and not (tmp_path / "runs").exists()


def test_other_configuration_errors_exit_2_without_a_traceback(tmp_path, monkeypatch, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, err = in_process(monkeypatch, capsys, tmp_path, *QUICK, f"paths.results_dir={blocker / 'results'}")
    assert code == 2 and "paths.results_dir=" in err and "cannot be written" in err
    code, err = in_process(monkeypatch, capsys, tmp_path, *QUICK, f"paths.cache_dir={blocker / 'cache'}")
    assert code == 2 and "paths.cache_dir=" in err and "cannot be written" in err
    code, err = in_process(monkeypatch, capsys, tmp_path, *QUICK,
                           "technique._target_=collections.OrderedDict")
    assert code == 2 and "is not a nesabench Pipeline: it has no check, prepare, infer, views" in err
    code, err = in_process(monkeypatch, capsys, tmp_path, *QUICK, "harness.repeats=many")
    assert code == 2 and "harness.repeats" in err
    assert not (tmp_path / "runs").exists()


def test_a_sweep_experiment_without_multirun_says_so(tmp_path) -> None:
    proc = cli(tmp_path, "experiment=dp_tradeoff")
    assert proc.returncode == 2
    assert ("experiment=dp_tradeoff defines a sweep (workload=mlp_cancer,cnn_digits, "
            "technique.target_epsilon=") in proc.stderr
    assert ".venv/bin/nesabench -m experiment=dp_tradeoff" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_a_command_line_sweep_without_multirun_says_so(tmp_path, monkeypatch, capsys) -> None:
    code, err = in_process(monkeypatch, capsys, tmp_path, *QUICK, "technique=dp_input",
                           "technique.epsilon=1,2")
    assert code == 2 and "technique.epsilon=1,2 is a sweep; run it with -m" in err


def test_a_bad_point_anywhere_in_a_sweep_stops_it_before_any_job(tmp_path, monkeypatch, capsys) -> None:
    code, err = in_process(monkeypatch, capsys, tmp_path, "-m", *QUICK, "technique=dp_input",
                           "technique.epsilon=1,high")
    assert code == 2 and "epsilon='high'" in err
    assert not (tmp_path / "runs").exists()


def test_resuming_a_finished_run_exits_0_with_the_recorded_run(tmp_path) -> None:
    args = [*QUICK, "technique=plaintext", "harness.resume=true"]
    first = cli(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    (rec,) = records(tmp_path)
    second = cli(tmp_path, *args)
    assert second.returncode == 0, second.stderr
    out = second.stdout + second.stderr
    assert "resume" in out and rec["run_id"] in out  # the summary line points at the old record
    assert [r["run_id"] for r in records(tmp_path)] == [rec["run_id"]]


def test_one_summary_line_after_a_run_and_third_party_logs_in_the_log_file(tmp_path) -> None:
    args = [*QUICK, "technique._target_=techniques_for_cli_tests.ChattyPipeline"]
    proc = cli(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    (rec,) = records(tmp_path)
    line = next(x for x in out.splitlines() if "plaintext / mlp_cancer: ok" in x)
    assert "slowdown" in line and "accuracy loss 0.000" in line and "input privacy not scored" in line
    assert rec["run_id"] in line
    assert CHATTY_LINE not in out
    (log,) = (tmp_path / "hydra").glob("*/nesabench.log")
    assert log.read_text().count(CHATTY_LINE) == 50
    verbose = cli(tmp_path, *args, "hydra.verbose=[ezkl]")
    assert (verbose.stdout + verbose.stderr).count(CHATTY_LINE) == 50


def test_after_the_five_mistakes_the_report_is_clean_and_keeps_the_ok_cells(tmp_path) -> None:
    ok = cli(tmp_path, "-m", "experiment=overhead_table", *QUICK, "technique=plaintext,dp_input")
    assert ok.returncode == 0, ok.stderr
    before = records(tmp_path)
    assert [r["status"] for r in before] == ["ok", "ok"]
    assert {r["experiment"] for r in before} == {"overhead_table"}
    mistakes = [
        [*QUICK, "technique=dp_sgd", "technique.epochs=ten"],          # 1: wrong type
        [*QUICK, "technique.strenght=4"],                               # 2: misspelt key, no +
        [*QUICK, "workload.dataset.test_fractoin=0.3"],                 # 2: misspelt workload sub-key
        ["-m", "experiment=overhead_table", *QUICK, "technique=dp_input", "technique.epsilon=high"],  # 3
        ["experiment=dp_tradeoff"],                                     # 5: a sweep without -m
    ]
    for m in mistakes:
        proc = cli(tmp_path, *m)
        assert proc.returncode == 2, (m, proc.stderr)
        assert "nesabench: configuration error" in proc.stderr and "Traceback" not in proc.stderr
    assert records(tmp_path) == before
    report = cli(tmp_path, main="report")  # 4: the folder comes from $NESABENCH_RESULTS
    assert report.returncode == 0, report.stderr
    assert "warning" not in report.stderr
    overhead = (tmp_path / "tables" / "overhead.md").read_text()
    assert "failed" not in overhead and "dp_input" in overhead and "plaintext" in overhead
    # the config the cells come from is named (sweep jobs spell booleans as Hydra does)
    assert "From `experiment=overhead_table harness.leakage=False harness=quick`: 2 records" in report.stdout
