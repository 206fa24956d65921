"""``nesabench-report``: records -> Parquet copy, tables (per experiment), figures, README blocks.

    .venv/bin/nesabench-report                                  # $NESABENCH_RESULTS or results/
    .venv/bin/nesabench-report results/reference --readme README.md

Figures go to --figures (default paper_figures/). A sweep whose records sit in a folder named after
its experiment under the results folder (results/reference/dp_tradeoff/runs, .../scaling/runs,
.../zk_scaling/runs, .../tee_paging/runs, .../hybrid_nodes/runs) has its figure drawn from that
folder's records only.

A record that cannot be read or typed is skipped with a warning naming the file and the key; it
never stops the report.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from nesabench.atomic import atomic_write_bytes, atomic_write_text
from nesabench.records import read_records
from nesabench.report import ee_variants_table
from nesabench.report.cell_text import SHORTENED_NOTE
from nesabench.report.figures import draw_figures
from nesabench.report.reference_figures import draw_sweep_folders, sweep_folders
from nesabench.report.seed_table import (
    evidence_table,
    flat_table,
    footnote,
    held_sentence,
    seed_rows,
    seed_table,
)
from nesabench.report.tables import (
    HEADLINE,
    experiment_table,
    failed_runs,
    headline_cells,
    overhead_table,
    protection_table,
    summary_table,
    with_labels,
)


def warn(message: str) -> None:
    print(f"nesabench-report: warning: {message}", file=sys.stderr)


def _kind(v) -> str | None:
    """The JSON kind of a value, numbers together (an int column may hold floats)."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def mistyped(records: list[dict], warn_: Callable[[str], None] = warn) -> list[dict]:
    """Records whose value of some key has another kind than the other records' (a string in a
    numeric ``param.epochs`` column, say) are skipped with a warning naming the file and the key."""
    kinds: dict[str, dict[str, int]] = {}
    for rec in records:
        for k, v in rec.items():
            kind = _kind(v)
            if kind is not None:
                kinds.setdefault(k, {}).setdefault(kind, 0)
                kinds[k][kind] += 1
    dominant = {k: max(c, key=lambda kind: (c[kind], kind)) for k, c in kinds.items() if len(c) > 1}
    keep = []
    for rec in records:
        bad = [k for k, kind in dominant.items() if k in rec and _kind(rec[k]) not in (None, kind)]
        if bad:
            warn_(f"skipping {rec.get('record_file')}: key {bad[0]}={rec[bad[0]]!r} is not a "
                  f"{dominant[bad[0]]} like the other records' {bad[0]}")
            continue
        keep.append(rec)
    return keep


#: Keys every record needs for the report to place it (which cell, which config, which is newest).
REQUIRED_KEYS = ("technique", "workload", "status", "config_hash", "timestamp")


def complete(records: list[dict], warn_: Callable[[str], None] = warn) -> list[dict]:
    """Records lacking a key the report needs are skipped with a warning naming the file and the key."""
    keep = []
    for rec in records:
        missing = [k for k in REQUIRED_KEYS if rec.get(k) in (None, "")]
        if missing:
            warn_(f"skipping {rec.get('record_file')}: it lacks the key {missing[0]!r}, which the report "
                  f"needs (every record needs {', '.join(REQUIRED_KEYS)})")
            continue
        keep.append(rec)
    return keep


def load_frame(runs_dir: str | Path, warn_: Callable[[str], None] = warn) -> pd.DataFrame:
    """All readable, typed, complete records as one frame; nested provenance (versions, machine)
    becomes dotted columns."""
    records = complete(mistyped(read_records(runs_dir, warn=warn_), warn_), warn_)
    if not records:
        raise FileNotFoundError(f"no run records in {runs_dir}; run `.venv/bin/nesabench` first")
    return with_labels(pd.json_normalize(records, sep="."))


def markdown(table: pd.DataFrame, index: bool) -> str:
    if table.empty:
        return "(no records)"
    return table.to_markdown(index=index, floatfmt=".4g")


def write_table(table: pd.DataFrame, stem: Path, index: bool, csv_table: pd.DataFrame | None = None) -> str:
    """Markdown, CSV and LaTeX versions of one table (the CSV from ``csv_table`` when given, e.g.
    with every field as recorded); returns the Markdown."""
    text = markdown(table, index)
    atomic_write_text(stem.with_suffix(".md"), text + "\n")
    csv = table if csv_table is None else csv_table
    atomic_write_text(stem.with_suffix(".csv"), csv.to_csv(index=index))
    if not table.empty:
        atomic_write_text(stem.with_suffix(".tex"), table.to_latex(index=index, float_format="%.4g"))
    return text


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    try:
        atomic_write_bytes(path, df.to_parquet(index=False))
    except Exception as err:  # pyarrow's many type errors: the tables do not need the Parquet copy
        warn(f"no Parquet copy written ({type(err).__name__}: {err})")


def seed_markdown(df: pd.DataFrame) -> str:
    """The seed's table, its footnote, which claims held, and what each mark rests on."""
    sel = headline_cells(df, HEADLINE)
    rows = seed_rows(sel.runs)
    return (f"{sel.caption}\n\n{markdown(seed_table(rows), index=False)}\n\n{footnote()}\n\n"
            f"{held_sentence(rows)}\n\nWhat each mark rests on:\n\n"
            f"{markdown(evidence_table(rows), index=False)}")


def write_seed_table(df: pd.DataFrame, stem: Path) -> str:
    """``seed_table.{md,csv,tex}``: the Markdown as the README shows it, every field in the CSV."""
    rows = seed_rows(headline_cells(df, HEADLINE).runs)
    text = seed_markdown(df)
    atomic_write_text(stem.with_suffix(".md"), text + "\n")
    atomic_write_text(stem.with_suffix(".csv"), flat_table(rows).to_csv(index=False))
    atomic_write_text(stem.with_suffix(".tex"), seed_table(rows).to_latex(index=False))
    return text


def readme_blocks(df: pd.DataFrame) -> dict[str, str]:
    """The README's generated blocks, by name: each a caption naming its config, then the table."""
    sel = headline_cells(df, HEADLINE)
    caption = sel.caption + (f" Other configs of this experiment, not shown: {'; '.join(sel.others)}."
                             if sel.others else "")
    table = overhead_table(df)
    shortened = not table.equals(overhead_table(df, full_mode=True))
    return {
        "seed": seed_markdown(df),
        "overhead": f"{caption} Slowdown vs plaintext, both timed in the same run.\n\n"
                    + markdown(table, index=True) + (f"\n\n{SHORTENED_NOTE}" if shortened else ""),
        "protection": f"{caption}\n\n" + markdown(protection_table(df), index=False),
    }


BLOCK = re.compile(r"(<!-- report:(\w+) -->\n)(.*?)(<!-- /report -->)", re.S)


def render_readme(text: str, blocks: dict[str, str]) -> str:
    """``text`` with each ``<!-- report:NAME -->...<!-- /report -->`` block holding ``blocks[NAME]``."""
    def fill(m: re.Match) -> str:
        name = m.group(2)
        if name not in blocks:
            raise ValueError(f"README block report:{name} is not one the report renders: {', '.join(blocks)}")
        return f"{m.group(1)}{blocks[name]}\n{m.group(4)}"

    return BLOCK.sub(fill, text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nesabench-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", nargs="?", default=os.environ.get("NESABENCH_RESULTS", "results"),
                        help="folder holding runs/ (default: $NESABENCH_RESULTS or results)")
    parser.add_argument("--figures", default=os.environ.get("NESABENCH_FIGURES", "paper_figures"),
                        help="where figures go (default: $NESABENCH_FIGURES or paper_figures)")
    parser.add_argument("--readme", metavar="README.md",
                        help="rewrite this file's <!-- report:NAME --> blocks from these records")
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    try:
        df = load_frame(results / "runs")
    except FileNotFoundError as err:
        sys.exit(f"nesabench-report: {err}")
    write_parquet(df, results / "records.parquet")
    tables = results / "tables"
    sel = headline_cells(df, HEADLINE)
    summary = write_table(summary_table(df), tables / "summary", index=False)
    overhead = write_table(overhead_table(df), tables / "overhead", index=True,
                           csv_table=overhead_table(df, full_mode=True))
    write_table(protection_table(df), tables / "protection", index=False)
    failures = failed_runs(df)
    write_table(failures, tables / "failed", index=False)
    per_experiment = {}
    seed = write_seed_table(df, tables / "seed_table")
    for name in sorted(df["experiment"].unique()):
        per_experiment[name] = write_table(experiment_table(df, name), tables / f"experiment_{name}",
                                           index=False)
    def note(m: str) -> None:
        print(f"nesabench-report: {m}", file=sys.stderr)

    folders = sweep_folders(results)  # results/<experiment>/runs: that sweep's figure comes from there
    figures = draw_figures(df, Path(args.figures), note=note, drawn_elsewhere=frozenset(folders))
    figures += draw_sweep_folders(results, Path(args.figures), load_frame, note)
    print(f"## The seed's table, measured\n\n{seed}\n")
    print(f"## Slowdown vs plaintext (same run, same machine)\n\n{sel.caption}\n")
    print(overhead)
    if sel.others:
        print(f"\nOther configs of experiment={HEADLINE} (tables/experiment_{HEADLINE}.md): "
              + "; ".join(sel.others))
    for name, text in per_experiment.items():
        if name != HEADLINE:
            print(f"\n## experiment={name}: every point\n\n{text}")
    if not failures.empty:
        print(f"\n## Failed runs (not in any cell)\n\n{markdown(failures, index=False)}")
    print("\n## Runs\n")
    print(summary)
    if args.readme:
        path = Path(args.readme)
        old = path.read_text()
        new = render_readme(old, readme_blocks(df))
        new = ee_variants_table.render_from(new, results / "ee_variants")  # its own records folder
        if new != old:
            atomic_write_text(path, new)
        print(f"\n{path}: {'rewritten' if new != old else 'already up to date'}")
    print(f"\n{len(df)} records -> {results / 'records.parquet'}; tables in {tables}/; "
          f"figures: {', '.join(map(str, figures)) or 'none (no records any figure draws from)'}")
