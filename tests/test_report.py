"""The report reads only records: tables and figures follow what the records say, cell by config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nesabench.records import Record, write_record
from nesabench.report.summary import load_frame, main, render_readme
from nesabench.report.tables import experiment_table, failed_runs, overhead_cell, overhead_table

ROOT = Path(__file__).resolve().parents[1]


def _write(runs, **fields) -> Record:
    rec = Record(technique=fields.pop("technique"), workload=fields.pop("workload"))
    rec.config_hash = fields.pop("config_hash", f"{rec.technique}-{rec.workload}")
    rec.experiment = fields.pop("experiment", "overhead_table")
    rec.variant = fields.pop("variant", [])
    if "timestamp" in fields:
        rec.timestamp = fields.pop("timestamp")
    rec.update(fields)
    write_record(rec, runs)
    return rec


def test_overhead_cells_say_what_the_record_says() -> None:
    assert overhead_cell(pd.Series({"status": "ok", "slowdown": 1234.0})) == "1.2e3×"
    assert overhead_cell(pd.Series({"status": "ok", "slowdown": 1.04})) == "1.04×"
    est = pd.Series({"status": "unsupported", "slowdown": 5e6, "estimated": True})
    assert overhead_cell(est) == "~5e6× (estimate)"
    assert overhead_cell(pd.Series({"status": "unsupported", "slowdown": None})) == "unsupported"
    assert overhead_cell(pd.Series({"status": "failed", "slowdown": None})) == "failed"


def test_report_writes_tables_parquet_and_figures(tmp_path, capsys) -> None:
    runs = tmp_path / "runs"
    _write(runs, technique="plaintext", workload="w1", status="ok", slowdown=1.0,
           latency_p50_s=1e-5, latency_per_sample_s=1e-5, input_privacy=0.0)
    _write(runs, technique="slowtech", workload="w1", status="ok", slowdown=2e4,
           latency_p50_s=0.2, latency_per_sample_s=0.2, input_privacy=0.97)
    _write(runs, technique="slowtech", workload="w2", status="unsupported", estimated=True,
           slowdown=3e6, latency_p50_s=30.0, reason="softmax")
    main([str(tmp_path), "--figures", str(tmp_path / "figs")])
    out = capsys.readouterr().out
    table = overhead_table(load_frame(runs))
    assert table.loc["slowtech", "w1"] == "2e4×"
    assert table.loc["slowtech", "w2"] == "~3e6× (estimate)"
    assert table.loc["plaintext", "w2"] == "not run"
    assert "2e4×" in out and "From `experiment=overhead_table`: 3 records" in out
    for name in ("records.parquet", "tables/overhead.md", "tables/overhead.tex", "tables/summary.csv",
                 "tables/protection.md", "tables/experiment_overhead_table.md"):
        assert (tmp_path / name).exists(), name
    for fig in ("slowdown", "privacy_vs_cost"):
        assert (tmp_path / f"figs/{fig}.png").stat().st_size > 1000
    assert len(pd.read_parquet(tmp_path / "records.parquet")) == 3


def test_report_on_an_empty_folder_says_so(tmp_path) -> None:
    with pytest.raises(SystemExit, match="no run records"):
        main([str(tmp_path)])


def test_only_one_config_of_the_headline_experiment_fills_the_overhead_table(tmp_path) -> None:
    runs = tmp_path / "runs"
    _write(runs, technique="dp_sgd", workload="w", status="ok", slowdown=1.05,
           timestamp="2026-01-01T00:00:00")
    # later runs of other configs: a sweep point of another experiment, an ad-hoc run, a variant
    _write(runs, technique="dp_sgd", workload="w", status="ok", slowdown=0.7, experiment="dp_tradeoff",
           config_hash="eps-null", timestamp="2026-01-02T00:00:00", accuracy_loss=0.0,
           **{"param.target_epsilon": None})
    _write(runs, technique="dp_sgd", workload="w", status="ok", slowdown=0.8, experiment="dp_tradeoff",
           config_hash="eps-1", timestamp="2026-01-02T00:00:01", accuracy_loss=0.1,
           **{"param.target_epsilon": 1.0})
    _write(runs, technique="dp_sgd", workload="w", status="ok", slowdown=9.0, experiment="adhoc",
           config_hash="adhoc", timestamp="2026-01-03T00:00:00")
    _write(runs, technique="dp_sgd", workload="w", status="ok", slowdown=7.0, variant=["harness=quick"],
           config_hash="quick", timestamp="2026-01-04T00:00:00")
    df = load_frame(runs)
    assert overhead_table(df).loc["dp_sgd", "w"] == "1.05×"
    sweep = experiment_table(df, "dp_tradeoff")
    assert len(sweep) == 2 and "param.target_epsilon" in sweep.columns  # every point, parameter as column
    main([str(tmp_path), "--figures", str(tmp_path / "figs")])
    assert (tmp_path / "figs" / "dp_privacy_utility.png").stat().st_size > 1000


def test_failed_runs_never_replace_an_ok_cell_and_are_listed_with_their_reason(tmp_path) -> None:
    runs = tmp_path / "runs"
    _write(runs, technique="plaintext", workload="w", status="ok", slowdown=1.0,
           timestamp="2026-01-01T00:00:00")
    _write(runs, technique="plaintext", workload="w", status="failed", reason="RuntimeError: boom",
           config_hash="other", timestamp="2026-01-02T00:00:00")
    df = load_frame(runs)
    assert overhead_table(df).loc["plaintext", "w"] == "1×"
    failed = failed_runs(df)
    assert list(failed["reason"]) == ["RuntimeError: boom"]


def test_unreadable_or_mistyped_records_are_skipped_with_a_warning_naming_file_and_key(tmp_path,
                                                                                      capsys) -> None:
    runs = tmp_path / "runs"
    _write(runs, technique="dp_sgd", workload="w", status="ok", slowdown=1.1, **{"param.epochs": 30})
    _write(runs, technique="dp_sgd", workload="w", status="ok", slowdown=1.2, config_hash="b",
           **{"param.epochs": 10})
    bad = _write(runs, technique="dp_sgd", workload="w", status="failed", config_hash="c",
                 **{"param.epochs": "ten"})
    (runs / "zz_truncated.json").write_text('{"technique": "x", ')
    rec = json.loads(next(runs.glob(f"*{bad.run_id}.json")).read_text())
    rec["latency_p50_s"] = "fast"
    (runs / "zz_wrong_type.json").write_text(json.dumps(rec))
    main([str(tmp_path), "--figures", str(tmp_path / "figs")])
    err = capsys.readouterr().err
    assert f"{bad.run_id}.json: key param.epochs='ten'" in err
    assert "zz_truncated.json: not a readable JSON record" in err
    assert "zz_wrong_type.json: key latency_p50_s='fast'" in err
    assert len(pd.read_parquet(tmp_path / "records.parquet")) == 2


def test_report_reads_the_results_folder_from_the_environment(tmp_path) -> None:
    _write(tmp_path / "res" / "runs", technique="plaintext", workload="w", status="ok", slowdown=1.0,
           latency_p50_s=1e-5, latency_per_sample_s=1e-5, input_privacy=0.0)
    env = {**os.environ, "NESABENCH_RESULTS": str(tmp_path / "res"),
           "NESABENCH_FIGURES": str(tmp_path / "figs"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", "from nesabench.cli import report; report()"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "res" / "tables" / "overhead.md").exists()
    assert (tmp_path / "figs" / "slowdown.png").exists()
    assert not (tmp_path / "results").exists()


def test_readme_blocks_are_rewritten_between_their_markers() -> None:
    text = "a\n<!-- report:overhead -->\nold\n<!-- /report -->\nb\n"
    expected = "a\n<!-- report:overhead -->\nnew\n<!-- /report -->\nb\n"
    assert render_readme(text, {"overhead": "new"}) == expected
    with pytest.raises(ValueError, match="report:nope"):
        render_readme("<!-- report:nope -->\n<!-- /report -->", {"overhead": ""})


def test_readme_tables_are_what_the_report_renders_from_the_reference_records() -> None:
    from nesabench.report.summary import readme_blocks

    readme = (ROOT / "README.md").read_text()
    assert "<!-- report:overhead -->" in readme and "<!-- report:protection -->" in readme
    df = load_frame(ROOT / "results" / "reference" / "runs")
    assert render_readme(readme, readme_blocks(df)) == readme, (
        "README tables differ from results/reference: run "
        "`.venv/bin/nesabench-report results/reference --readme README.md`")
