"""Figures built only from run records; each saved as PDF (paper) and PNG (quick look)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nesabench.report.tables import newest_per_cell


def save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.{ext}" for ext in ("pdf", "png")]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def technique_order(techniques) -> list[str]:
    return sorted(set(techniques), key=lambda t: (t != "plaintext", t))


def latency_figure(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per-sample latency (log scale) per workload and technique.

    Estimates are hatched; a run with no latency (unsupported without estimate, failed) is marked
    with its status at the foot of its slot, so a gap is never mistaken for a fast result.
    """
    runs = newest_per_cell(df)
    workloads = sorted(runs["workload"].unique())
    techniques = technique_order(runs["technique"])
    width = 0.8 / len(techniques)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(workloads) * max(1.0, len(techniques) / 2)), 4.2))
    cmap = plt.get_cmap("tab10")
    for i, tech in enumerate(techniques):
        labelled = False
        for j, wl in enumerate(workloads):
            row = runs[(runs.technique == tech) & (runs.workload == wl)]
            if row.empty:
                continue
            r = row.iloc[0]
            x = j - 0.4 + width * (i + 0.5)
            lat = r.get("latency_per_sample_s")
            if pd.isna(lat) and r.get("estimated"):
                lat = r.get("latency_p50_s")
            if lat is None or pd.isna(lat):
                ax.annotate(str(r["status"]), (x, 0.01), xycoords=("data", "axes fraction"),
                            rotation=90, ha="center", va="bottom", fontsize=7, color=cmap(i))
                continue
            estimate = bool(r.get("estimated")) and r["status"] != "ok"
            ax.bar(x, lat, width, color=cmap(i), hatch="//" if estimate else None,
                   edgecolor="black" if estimate else cmap(i), label=None if labelled else tech)
            labelled = True
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(workloads)), workloads)
    ax.set_ylabel("latency per sample, p50 (s)")
    ax.set_title("Private inference latency: same model, data and machine")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8, title="technique (hatched = estimate)", title_fontsize=8,
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save(fig, out_dir, "latency")
