"""Load a folder of run records into pandas, keep a Parquet copy, print a summary table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nesabench.harness.atomic import atomic_write_bytes, atomic_write_text
from nesabench.harness.records import read_records

SUMMARY_COLUMNS = [
    "workload", "technique", "status", "latency_p50_s", "slowdown", "setup_s", "accuracy",
    "accuracy_loss", "fidelity_agreement", "fidelity_max_abs_err", "bytes_to_nodes", "peak_mem_mb",
    "reason",
]


def load_frame(runs_dir: str | Path) -> pd.DataFrame:
    """All records as one frame; nested provenance (versions, machine) becomes dotted columns."""
    records = read_records(runs_dir)
    if not records:
        raise FileNotFoundError(f"no run records in {runs_dir}; run `nesabench` first")
    return pd.json_normalize(records, sep=".")


def latest(df: pd.DataFrame) -> pd.DataFrame:
    """The newest record per configuration (a rerun replaces an older result in tables)."""
    return df.sort_values("timestamp").groupby("config_hash", as_index=False).tail(1)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in SUMMARY_COLUMNS if c in df.columns]
    return latest(df)[cols].sort_values(["workload", "technique"]).reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nesabench-report", description=__doc__)
    parser.add_argument("results_dir", nargs="?", default="results",
                        help="folder holding runs/ (default: results)")
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    try:
        df = load_frame(results / "runs")
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"nesabench-report: {err}")
    buf = df.to_parquet(index=False)
    atomic_write_bytes(results / "records.parquet", buf)
    table = summary_table(df)
    text = table.to_markdown(index=False, floatfmt=".4g")
    atomic_write_text(results / "summary.md", text + "\n")
    table.to_csv(results / "summary.csv", index=False)
    print(text)
    print(f"\n{len(df)} records -> {results / 'records.parquet'}, {results / 'summary.md'}")
