"""Tables built only from run records: every cell from records of one named config.

A table cell never mixes configs: the overhead table takes only ``experiment=overhead_table``
records of one variant (the experiment as defined, unless only variants were run), and names it;
a sweep keeps every point in its experiment's table, with the swept parameters as columns; a
failed run never replaces an ok cell and is listed separately with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from nesabench.estimates import estimate_mark
from nesabench.report.cell_text import short_mode
from nesabench.report.order import order_techniques, order_workloads, sort_rows

#: The experiment whose records make the headline overhead table.
HEADLINE = "overhead_table"

SUMMARY_COLUMNS = [
    "experiment", "workload", "technique", "status", "estimated", "latency_p50_s", "slowdown", "setup_s",
    "eval_samples", "accuracy", "accuracy_loss", "fidelity_agreement", "fidelity_max_abs_err",
    "bytes_to_nodes", "peak_mem_delta_mb", "input_privacy", "model_privacy", "verified",
    "tamper_detection_rate", "reason",
]

#: Outcome columns of a per-experiment table (the swept parameters come before them).
OUTCOME_COLUMNS = [
    "status", "slowdown", "latency_p50_s", "setup_s", "accuracy", "accuracy_loss", "fidelity_agreement",
    "input_privacy", "model_privacy", "verified", "tamper_detection_rate", "reason",
]

#: A cell shows the best-status record of its config: an ok run is never replaced by a failure.
STATUS_RANK = {"ok": 0, "unsupported": 1, "failed": 2}


def variant_label(variant) -> str:
    """A record's variant (its overrides beyond the experiment's sweep) as one string."""
    if variant is None or (isinstance(variant, float) and math.isnan(variant)):
        return ""
    return " ".join(variant) if isinstance(variant, (list, tuple)) else str(variant)


def with_labels(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    if "experiment" not in df.columns:
        df["experiment"] = "adhoc"
    df["experiment"] = df["experiment"].fillna("adhoc")
    df["variant_label"] = df["variant"].map(variant_label) if "variant" in df.columns else ""
    return df


def latest(df: pd.DataFrame) -> pd.DataFrame:
    """The newest record per configuration: a rerun replaces an older result in tables."""
    return df.sort_values("timestamp").groupby("config_hash", as_index=False).tail(1)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    df = with_labels(df)
    cols = [c for c in SUMMARY_COLUMNS if c in df.columns]
    rows = sort_rows(latest(df)[cols])
    return rows.sort_values("experiment", kind="stable").reset_index(drop=True)


def best_per(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group: the newest ok record, else the newest unsupported, else the newest failed."""
    if df.empty:
        return df
    ranked = df.assign(_rank=df["status"].map(STATUS_RANK).fillna(3))
    ranked = ranked.sort_values(["_rank", "timestamp"], ascending=[True, False])
    return ranked.groupby(keys, as_index=False, dropna=False).head(1).drop(columns="_rank")


@dataclass
class Selection:
    """The records behind one table, and the config they come from, in words."""

    runs: pd.DataFrame
    config: str
    others: list[str]

    @property
    def caption(self) -> str:
        if self.runs.empty:
            return f"no {self.config} records"
        n = len(self.runs)
        dates = sorted(str(t)[:10] for t in self.runs["timestamp"])
        when = dates[0] if dates[0] == dates[-1] else f"{dates[0]}..{dates[-1]}"
        text = f"From `{self.config}`: {n} records, {when}"
        if "machine.cpu" in self.runs.columns:
            cpus = sorted({str(c) for c in self.runs["machine.cpu"].dropna()})
            if cpus:
                text += f", {' / '.join(cpus)}"
        return text + "."


def headline_cells(df: pd.DataFrame, experiment: str = HEADLINE) -> Selection:
    """One cell per (technique, workload) from one config of ``experiment``.

    The config is the experiment as defined (no extra overrides) when any such record exists,
    else the variant with the newest record; the other variants are named, never mixed in.
    """
    df = with_labels(df)
    runs = df[df["experiment"] == experiment]
    variants = sorted(runs["variant_label"].unique()) if not runs.empty else []
    if not variants:
        return Selection(runs, f"experiment={experiment}", [])
    chosen = "" if "" in variants else runs.sort_values("timestamp")["variant_label"].iloc[-1]
    config = f"experiment={experiment}" + (f" {chosen}" if chosen else "")
    others = [f"experiment={experiment} {v}".strip() for v in variants if v != chosen]
    cells = best_per(runs[runs["variant_label"] == chosen], ["technique", "workload"])
    return Selection(cells, config, others)


def _ratio(x: float) -> str:
    if x >= 100:
        return f"{x:.2g}".replace("e+0", "e").replace("e+", "e") + "×"
    return f"{x:.3g}×"


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and v != ""


def overhead_cell(row: pd.Series, full_mode: bool = False) -> str:
    """How a run reads in the comparison table; an estimate says so (with its kind's mark: "~"
    extrapolated, "≥" lower bound), a refusal gives no number, and a named mode is shown (shortened
    by ``short_mode`` unless ``full_mode``: the CSV keeps the record's full mode)."""
    status, s, mode = row.get("status"), row.get("slowdown"), row.get("mode")
    if _present(mode) and not full_mode:
        mode = short_mode(mode)
    has = _present(s)
    if status == "ok" and has:
        text = _ratio(float(s))
        return f"{text} ({mode})" if _present(mode) else text
    if status == "unsupported":
        if has and row.get("estimated"):
            kind = row.get("estimate_kind")
            mark = estimate_mark(kind if _present(kind) else None)
            return f"{mark}{_ratio(float(s))} (estimate{', ' + str(mode) if _present(mode) else ''})"
        return "unsupported"
    return str(status)


def pivot_cells(runs: pd.DataFrame, cell) -> pd.DataFrame:
    if runs.empty:
        return pd.DataFrame()
    runs = runs.copy()
    runs["cell"] = runs.apply(cell, axis=1)
    table = runs.pivot(index="technique", columns="workload", values="cell")
    table = table.reindex(index=order_techniques(table.index), columns=order_workloads(table.columns))
    return table.fillna("not run").rename_axis(index="technique", columns=None)


def overhead_table(df: pd.DataFrame, experiment: str = HEADLINE, full_mode: bool = False) -> pd.DataFrame:
    """Slowdown vs plaintext measured in the same run: techniques as rows, workloads as columns;
    modes shortened for reading (``full_mode=True``: as recorded, for the CSV)."""
    return pivot_cells(headline_cells(df, experiment).runs, lambda r: overhead_cell(r, full_mode))


def _score(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "not scored"
    return f"{float(v):.2f}"


def _num(v, fmt: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return format(float(v), fmt)


def protection_table(df: pd.DataFrame, experiment: str = HEADLINE) -> pd.DataFrame:
    """What each headline cell protects and costs: one row per (technique, workload)."""
    runs = headline_cells(df, experiment).runs
    if runs.empty:
        return pd.DataFrame()
    rows = []
    for _, r in sort_rows(runs).iterrows():
        verified = r.get("verified")
        rows.append({
            "technique": r["technique"], "workload": r["workload"], "status": r["status"],
            "slowdown": overhead_cell(r),
            "accuracy loss": _num(r.get("accuracy_loss")),
            "input privacy": _score(r.get("input_privacy")),
            "model privacy": _score(r.get("model_privacy")),
            "verified": "–" if verified is None or (isinstance(verified, float) and math.isnan(verified))
            else ("yes" if bool(verified) else "no"),
        })
    return pd.DataFrame(rows)


def failed_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Failed runs no later run of the same config (and experiment) has fixed, with their reasons."""
    df = with_labels(df)
    if df.empty or "status" not in df.columns:
        return pd.DataFrame()
    newest = df.sort_values("timestamp").groupby(["config_hash", "experiment"], as_index=False).tail(1)
    failed = newest[newest["status"] == "failed"]
    cols = [c for c in ("experiment", "workload", "technique", "variant_label", "reason", "record_file")
            if c in failed.columns]
    return sort_rows(failed[cols]).rename(columns={"variant_label": "variant"})


def experiment_table(df: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """Every point of one experiment (newest record of each config): the parameters that vary are
    columns, so a sweep is never collapsed to one cell."""
    df = with_labels(df)
    runs = latest(df[df["experiment"] == experiment])
    if runs.empty:
        return pd.DataFrame()
    params = [c for c in runs.columns if c.startswith("param.")
              and runs[c].map(lambda v: repr(v)).nunique() > 1]
    cols = ["workload", "technique", *params]
    if runs["variant_label"].nunique() > 1 or (runs["variant_label"] != "").any():
        cols.append("variant_label")
    cols += [c for c in OUTCOME_COLUMNS if c in runs.columns]
    out = sort_rows(runs[cols], then=params)  # a parameter column mixing kinds sorts by the names only
    return out.rename(columns={"variant_label": "variant"})
