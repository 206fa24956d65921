"""Harness units: statistics, ratios, quality, byte accounting, records and their atomic writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from nesabench.atomic import atomic_write_text
from nesabench.harness.runner import view_accounting
from nesabench.harness.timing import TimingStats, percentile, slowdown, time_calls
from nesabench.pipeline import PartyView
from nesabench.quality import measure_quality
from nesabench.records import Record, read_records, write_record

REQUIRED_KEYS = {
    "technique", "workload", "status", "reason", "latency_p50_s", "latency_p95_s", "setup_s",
    "slowdown", "accuracy", "accuracy_loss", "fidelity_agreement", "fidelity_max_abs_err",
    "bytes_to_nodes", "peak_mem_mb", "config_hash", "seed", "versions",
}


def test_percentiles_interpolate_linearly() -> None:
    values = [4.0, 1.0, 3.0, 2.0, 5.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    stats = TimingStats.of(values)
    assert (stats.p50, stats.min, stats.max, stats.n) == (3.0, 1.0, 5.0, 5)
    assert stats.std == pytest.approx(np.std(values, ddof=1))
    with pytest.raises(ValueError):
        percentile(values, 101)
    with pytest.raises(ValueError):
        TimingStats.of([])


def test_slowdown_is_the_ratio_to_the_reference() -> None:
    assert slowdown(3.0, 1.5) == 2.0
    assert slowdown(None, 1.0) is None
    with pytest.raises(ValueError):
        slowdown(1.0, 0.0)


def test_time_calls_runs_warmup_then_repeats_over_the_batches() -> None:
    seen = []
    times = time_calls(seen.append, ["a", "b", "c"], warmup=2, repeats=4)
    assert seen == ["a", "b", "a", "b", "c", "a"]
    assert len(times) == 4 and all(t >= 0 for t in times)


def test_quality_measures_accuracy_loss_and_fidelity() -> None:
    ref = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    out = ref.clone()
    out[2] = torch.tensor([0.0, 1.0])  # flips sample 2
    labels = torch.tensor([0, 1, 0, 1])
    q = measure_quality(out, ref, labels)
    assert (q.accuracy, q.plaintext_accuracy, q.accuracy_loss) == (0.75, 1.0, 0.25)
    assert q.fidelity_agreement == 0.75
    assert q.fidelity_max_abs_err == pytest.approx(3.0)
    with pytest.raises(ValueError, match="shape"):
        measure_quality(out[:, :1], ref, labels)


def test_bytes_to_nodes_counts_only_what_untrusted_parties_receive() -> None:
    x = torch.zeros(2, 10)  # 80 bytes
    call = [
        PartyView("node", "plain_input", "input", x),
        PartyView("node", "output", "output", x, received=False),
        PartyView("client", "output", "output", x),
        PartyView("verifier", "proof", "proof", [b"abcd", b"efgh"]),
    ]
    acc = view_accounting([call, call])
    assert acc["bytes_to_nodes"] == 88
    assert "node:plain_input" in acc["view_kinds"] and "verifier:proof" in acc["view_kinds"]
    with pytest.raises(ValueError, match="unknown view kind"):
        PartyView("node", "telepathy", "input", x)


def test_record_has_the_documented_flat_schema(tmp_path) -> None:
    rec = Record(technique="t", workload="w", status="ok")
    rec.update({"latency_p50_s": 0.5, "keygen_s": 1.25, "param.n_bits": 6})
    path = write_record(rec, tmp_path)
    data = json.loads(path.read_text())
    assert data.keys() >= REQUIRED_KEYS
    assert data["keygen_s"] == 1.25 and data["param.n_bits"] == 6 and data["latency_p50_s"] == 0.5
    assert "extra" not in data
    assert read_records(tmp_path)[0]["run_id"] == rec.run_id


def test_extra_keys_cannot_shadow_standard_ones() -> None:
    rec = Record(technique="t", workload="w")
    rec.extra["slowdown"] = 1.0
    with pytest.raises(ValueError, match="shadow"):
        rec.to_dict()


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch) -> None:
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_unreadable_record_is_reported(tmp_path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json"):
        read_records(tmp_path)
