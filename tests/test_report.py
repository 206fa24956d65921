"""The report reads only records: tables and figures follow what the records say."""

from __future__ import annotations

import pandas as pd
import pytest

from nesabench.records import Record, write_record
from nesabench.report.summary import load_frame, main
from nesabench.report.tables import overhead_cell, overhead_table


def _write(runs, **fields) -> None:
    rec = Record(technique=fields.pop("technique"), workload=fields.pop("workload"))
    rec.config_hash = f"{rec.technique}-{rec.workload}-{fields.get('status')}"
    rec.update(fields)
    write_record(rec, runs)


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
    assert "2e4×" in out
    for name in ("records.parquet", "tables/overhead.md", "tables/overhead.tex", "tables/summary.csv"):
        assert (tmp_path / name).exists(), name
    for fig in ("latency", "privacy_vs_cost"):
        assert (tmp_path / f"figs/{fig}.png").stat().st_size > 1000
    assert len(pd.read_parquet(tmp_path / "records.parquet")) == 3


def test_report_on_an_empty_folder_says_so(tmp_path) -> None:
    with pytest.raises(SystemExit, match="no run records"):
        main([str(tmp_path)])
