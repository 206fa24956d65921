"""``nesabench-report``: records -> Parquet copy, summary and overhead tables, figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nesabench.atomic import atomic_write_bytes, atomic_write_text
from nesabench.records import read_records
from nesabench.report.figures import latency_figure, privacy_cost_figure
from nesabench.report.tables import overhead_table, summary_table


def load_frame(runs_dir: str | Path) -> pd.DataFrame:
    """All records as one frame; nested provenance (versions, machine) becomes dotted columns."""
    records = read_records(runs_dir)
    if not records:
        raise FileNotFoundError(f"no run records in {runs_dir}; run `nesabench` first")
    return pd.json_normalize(records, sep=".")


def write_table(table: pd.DataFrame, stem: Path, index: bool) -> str:
    """Markdown, CSV and LaTeX versions of one table; returns the Markdown."""
    text = table.to_markdown(index=index, floatfmt=".4g")
    atomic_write_text(stem.with_suffix(".md"), text + "\n")
    atomic_write_text(stem.with_suffix(".csv"), table.to_csv(index=index))
    atomic_write_text(stem.with_suffix(".tex"), table.to_latex(index=index, float_format="%.4g"))
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nesabench-report", description=__doc__)
    parser.add_argument("results_dir", nargs="?", default="results",
                        help="folder holding runs/ (default: results)")
    parser.add_argument("--figures", default="paper_figures",
                        help="where figures go (default: paper_figures)")
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    try:
        df = load_frame(results / "runs")
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"nesabench-report: {err}")
    atomic_write_bytes(results / "records.parquet", df.to_parquet(index=False))
    tables = results / "tables"
    summary = write_table(summary_table(df), tables / "summary", index=False)
    overhead = write_table(overhead_table(df), tables / "overhead", index=True)
    figures = [*latency_figure(df, Path(args.figures)), *privacy_cost_figure(df, Path(args.figures))]
    print("## Slowdown vs plaintext (same run, same machine)\n")
    print(overhead)
    print("\n## Runs\n")
    print(summary)
    print(f"\n{len(df)} records -> {results / 'records.parquet'}; tables in {tables}/; "
          f"figures: {', '.join(map(str, figures))}")
