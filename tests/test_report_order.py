"""Tables in the order a reader expects (from reader_order.yaml), modes shown in cells, and records
lacking a key the report needs named with the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nesabench.records import Record, write_record
from nesabench.report.order import order_techniques, order_workloads
from nesabench.report.summary import load_frame
from nesabench.report.tables import overhead_cell, overhead_table, protection_table, summary_table


def _write(runs: Path, technique: str, workload: str, **fields) -> Path:
    rec = Record(technique=technique, workload=workload, experiment="overhead_table", status="ok")
    rec.config_hash = f"{technique}-{workload}"
    rec.update({"slowdown": 2.0, **fields})
    return write_record(rec, runs)


def test_order_is_plaintext_then_family_then_unknown_alphabetically() -> None:
    names = ["zk_ezkl", "aaa_mine", "nesa_hybrid", "dp_input", "he_tfhe", "plaintext", "tee_sim", "he_ckks",
             "nesa_ee", "dp_sgd", "nesa_hss", "b_mine"]
    assert order_techniques(names) == ["plaintext", "he_ckks", "he_tfhe", "zk_ezkl", "dp_sgd", "dp_input",
                                       "tee_sim", "nesa_ee", "nesa_hss", "nesa_hybrid", "aaa_mine", "b_mine"]
    assert order_workloads(["minilm", "a_own", "cnn_digits", "tiny_transformer", "mlp_cancer"]) == \
        ["mlp_cancer", "cnn_digits", "tiny_transformer", "minilm", "a_own"]


def test_every_table_is_in_reader_order(tmp_path) -> None:
    runs = tmp_path / "runs"
    for tech in ("aaa_mine", "zk_ezkl", "he_ckks", "plaintext", "dp_sgd"):
        for wl in ("minilm", "aa_own", "mlp_cancer", "cnn_digits"):
            _write(runs, tech, wl)
    df = load_frame(runs)
    table = overhead_table(df)
    assert list(table.index) == ["plaintext", "he_ckks", "zk_ezkl", "dp_sgd", "aaa_mine"]
    assert list(table.columns) == ["mlp_cancer", "cnn_digits", "minilm", "aa_own"]
    prot = protection_table(df)
    assert list(prot["technique"].drop_duplicates()) == list(table.index)
    assert list(prot["workload"][:4]) == ["mlp_cancer", "cnn_digits", "minilm", "aa_own"]
    summary = summary_table(df)
    assert list(summary["technique"].drop_duplicates()) == list(table.index)


def test_a_named_mode_shows_in_the_cell() -> None:
    row = {"status": "ok", "slowdown": 1234.0, "mode": "client-aided"}
    assert overhead_cell(pd.Series(row)) == "1.2e3× (client-aided)"
    per_layer = {"status": "ok", "slowdown": 40.0, "mode": "measured per layer x 6", "estimated": False}
    assert overhead_cell(pd.Series(per_layer)) == "40× (measured per layer x 6)"
    est = {"status": "unsupported", "slowdown": 5e6, "estimated": True, "estimate_kind": "lower_bound",
           "mode": "hybrid (linear in FHE)"}
    assert overhead_cell(pd.Series(est)) == "≥5e6× (estimate, hybrid (linear in FHE))"
    assert overhead_cell(pd.Series({"status": "ok", "slowdown": 3.0, "mode": None})) == "3×"


def test_mode_reaches_the_overhead_table(tmp_path) -> None:
    runs = tmp_path / "runs"
    _write(runs, "he_tfhe", "cnn_digits", slowdown=2e5, mode="client-aided")
    _write(runs, "plaintext", "cnn_digits", slowdown=1.0)
    assert overhead_table(load_frame(runs)).loc["he_tfhe", "cnn_digits"] == "2e5× (client-aided)"


def test_a_record_lacking_a_key_the_report_needs_is_named_with_the_key(tmp_path) -> None:
    runs = tmp_path / "runs"
    _write(runs, "plaintext", "mlp_cancer")
    bad = _write(runs, "dp_sgd", "mlp_cancer")
    rec = json.loads(bad.read_text())
    del rec["timestamp"]
    bad.write_text(json.dumps(rec))
    messages: list[str] = []
    df = load_frame(runs, warn_=messages.append)
    assert list(df["technique"]) == ["plaintext"]
    assert messages == [f"skipping {bad.name}: it lacks the key 'timestamp', which the report needs "
                        "(every record needs technique, workload, status, config_hash, timestamp)"]
