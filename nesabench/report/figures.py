"""Figures built only from run records; each saved as PDF (paper) and PNG (quick look)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.{ext}" for ext in ("pdf", "png")]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def technique_order(techniques) -> list[str]:
    return sorted(set(techniques), key=lambda t: (t != "plaintext", t))


def latency_figure(runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per-sample latency (log scale) per workload and technique, one record per cell (the
    headline selection of ``nesabench.report.tables``).

    Estimates are hatched; a run with no latency (unsupported without estimate, failed) is marked
    with its status at the foot of its slot, so a gap is never mistaken for a fast result.
    """
    if runs.empty:
        return []
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


def privacy_cost_figure(runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """What each technique protects (measured input privacy) against what it costs: slowdown on
    the left, accuracy lost on the right, so cheap protection bought with accuracy shows as such.

    Only runs that carry the numbers appear; estimated slowdowns are drawn hollow.
    """
    need = ["slowdown", "input_privacy"]
    if not set(need) <= set(runs.columns):
        return []
    runs = runs.dropna(subset=need)
    if runs.empty:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    markers = "osD^vP*X<>"
    workloads = sorted(runs["workload"].unique())
    techniques = technique_order(runs["technique"])
    cmap = plt.get_cmap("tab10")
    for i, tech in enumerate(techniques):
        for j, wl in enumerate(workloads):
            for _, r in runs[(runs.technique == tech) & (runs.workload == wl)].iterrows():
                estimate = bool(r.get("estimated")) and r["status"] != "ok"
                style = {"marker": markers[j % len(markers)], "s": 70, "alpha": 0.8,
                         "edgecolors": cmap(i), "facecolors": "none" if estimate else cmap(i)}
                axes[0].scatter(r["slowdown"], r["input_privacy"], **style)
                loss = r.get("accuracy_loss")
                if loss is not None and not pd.isna(loss):
                    axes[1].scatter(loss, r["input_privacy"], **style)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("slowdown vs plaintext (same run)")
    axes[1].set_xlabel("accuracy loss vs plaintext (same samples)")
    axes[0].set_ylabel("input privacy (1 = no attack beats chance)")
    for ax in axes:
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    fig.suptitle("Protection against cost, measured")
    handles = [plt.Line2D([], [], marker="s", color=cmap(i), ls="", label=t)
               for i, t in enumerate(techniques)]
    handles += [plt.Line2D([], [], marker=markers[j % len(markers)], color="gray", ls="", label=wl)
                for j, wl in enumerate(workloads)]
    axes[1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                   title="colour: technique\nshape: workload", title_fontsize=7)
    return save(fig, out_dir, "privacy_vs_cost")


def _number(v) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or pd.isna(v):
        return None
    return float(v)


def sweep_figure(table: pd.DataFrame, experiment: str, out_dir: Path) -> list[Path]:
    """Every point of a one-parameter sweep (``experiment_table``): accuracy loss and slowdown
    against the swept parameter, one line per (workload, technique); a null point (``target_epsilon:
    null``, the non-private model) is a dashed level, so no point of the sweep is dropped."""
    params = [c for c in table.columns if c.startswith("param.")]
    if len(params) != 1 or table.empty:
        return []
    p = params[0]
    if not all(_number(v) is not None or v is None or pd.isna(v) for v in table[p]):
        return []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
    cmap = plt.get_cmap("tab10")
    for i, ((wl, tech), rows) in enumerate(table.groupby(["workload", "technique"])):
        colour = cmap(i % 10)
        for ax, col in zip(axes, ("accuracy_loss", "slowdown"), strict=True):
            if col not in rows.columns:
                continue
            points = sorted((_number(x), _number(y)) for x, y in zip(rows[p], rows[col], strict=True)
                            if _number(x) is not None and _number(y) is not None)
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", color=colour, label=f"{tech} / {wl}")
            for y in rows.loc[rows[p].isna(), col]:
                if _number(y) is not None:
                    ax.axhline(_number(y), ls="--", color=colour, label=f"{tech} / {wl}, {p[6:]}=null")
    for ax, label in zip(axes, ("accuracy loss vs plaintext", "slowdown vs plaintext"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel(p[6:])
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"experiment={experiment}: every point of the sweep")
    return save(fig, out_dir, f"sweep_{experiment}")
