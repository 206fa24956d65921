"""Tables built only from run records: the per-run summary and the overhead comparison."""

from __future__ import annotations

import math

import pandas as pd

SUMMARY_COLUMNS = [
    "workload", "technique", "status", "estimated", "latency_p50_s", "slowdown", "setup_s",
    "eval_samples", "accuracy", "accuracy_loss", "fidelity_agreement", "fidelity_max_abs_err",
    "bytes_to_nodes", "peak_mem_delta_mb", "input_privacy", "model_privacy", "verified",
    "tamper_detection_rate", "reason",
]


def latest(df: pd.DataFrame) -> pd.DataFrame:
    """The newest record per configuration: a rerun replaces an older result in tables."""
    return df.sort_values("timestamp").groupby("config_hash", as_index=False).tail(1)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in SUMMARY_COLUMNS if c in df.columns]
    return latest(df)[cols].sort_values(["workload", "technique"]).reset_index(drop=True)


def _ratio(x: float) -> str:
    if x >= 100:
        return f"{x:.2g}".replace("e+0", "e").replace("e+", "e") + "×"
    return f"{x:.3g}×"


def overhead_cell(row: pd.Series) -> str:
    """How a run reads in the comparison table; an estimate says so, a refusal gives no number."""
    status, s = row.get("status"), row.get("slowdown")
    has = s is not None and not (isinstance(s, float) and math.isnan(s))
    if status == "ok" and has:
        return _ratio(float(s))
    if status == "unsupported":
        return f"~{_ratio(float(s))} (estimate)" if has and row.get("estimated") else "unsupported"
    return str(status)


def newest_per_cell(df: pd.DataFrame) -> pd.DataFrame:
    """The newest run of each (technique, workload) pair: what a table cell or a bar shows."""
    return df.sort_values("timestamp").groupby(["technique", "workload"], as_index=False).tail(1)


def overhead_table(df: pd.DataFrame) -> pd.DataFrame:
    """Slowdown vs plaintext measured in the same run: techniques as rows, workloads as columns."""
    runs = newest_per_cell(df).copy()
    runs["cell"] = runs.apply(overhead_cell, axis=1)
    table = runs.pivot(index="technique", columns="workload", values="cell").fillna("not run")
    return table.rename_axis(index="technique", columns=None)
