"""Figures built only from run records; each saved as PDF (paper) and PNG (quick look).

One style for all: techniques keep the same marker, colour and hatch everywhere, taken from their
place in the reader order (``reader_order.yaml``), so every figure reads in grayscale too.
Estimates are hatched (bars) or hollow with a "~"/"≥" (points), never drawn as measurements.
A figure whose records are absent is skipped with a message; a record lacking a key a figure needs
is left out with a message naming the file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nesabench.estimates import ESTIMATE_KINDS
from nesabench.report.order import order_techniques, order_workloads, reader_order, technique_rank
from nesabench.report.tables import HEADLINE, experiment_table, headline_cells

Note = Callable[[str], None]

MARKERS = "osD^vP*X<>hpH8d"
HATCHES = ["", "//", "\\\\", "xx", "..", "oo", "--", "++", "||", "**", "O.", "/o"]
#: Okabe-Ito (colour-blind safe); grayscale is carried by markers, hatches and line styles.
COLOURS = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#8C564B", "#0072B2", "#D55E00", "#CC79A7",
           "#999999", "#882255", "#44AA99", "#332288"]
LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3))]
WORKLOAD_FILLS = ["white", "0.75", "0.45", "black", "0.6", "0.3"]

STYLE = {"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 7, "axes.grid": True, "grid.alpha": 0.3,
         "savefig.dpi": 150, "figure.dpi": 100, "hatch.linewidth": 0.6}


def technique_style(tech: str) -> dict:
    """Marker, colour and hatch of a technique, the same in every figure."""
    i = technique_rank(tech)
    if i >= len(reader_order().techniques):  # a user's own technique: stable by name
        i = len(reader_order().techniques) + sum(map(ord, tech)) % 5
    return {"marker": MARKERS[i % len(MARKERS)], "color": COLOURS[i % len(COLOURS)],
            "hatch": HATCHES[i % len(HATCHES)]}


def save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.{ext}" for ext in ("pdf", "png")]
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    plt.close(fig)
    return paths


def _legend(ax, **kw) -> None:
    """One legend beside ``ax`` holding every labelled line of its figure (once per label)."""
    seen: dict[str, object] = {}
    for a in ax.figure.axes:
        for h, label in zip(*a.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, h)
    if seen:
        ax.legend(list(seen.values()), list(seen), **kw)


def _log(ax, x: bool = False, y: bool = False, base: int = 10) -> None:
    """Log axes with labels on the decades only (minor labels crowd a short range); a range of under
    two decades gets labels at 1, 2 and 5 per decade in plain numbers (300, 2k) instead."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for on, axis, set_scale, lim in ((x, ax.xaxis, ax.set_xscale, ax.get_xlim),
                                     (y, ax.yaxis, ax.set_yscale, ax.get_ylim)):
        if on:
            set_scale("log", base=base)
            lo, hi = lim()
            axis.set_minor_formatter(NullFormatter())
            if lo > 0 and math.log(hi / lo, base) < 2 and base == 10:
                # with decades only, such a range could show one label or none
                axis.set_major_locator(LogLocator(base=base, subs=(1.0, 2.0, 5.0)))
                axis.set_major_formatter(FuncFormatter(lambda v, _pos: _plain(v)))


def _plain(v: float) -> str:
    """A tick value without exponent notation: 0.5, 20, 300, 2k, 50k, 3M."""
    for factor, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= factor:
            return f"{v / factor:g}{suffix}"
    return f"{v:g}"


def _num(v) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
        return None
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def _estimated(r: pd.Series) -> bool:
    return bool(r.get("estimated")) and r.get("status") != "ok"


def _est_mark(r: pd.Series) -> str:
    kind = r.get("estimate_kind")
    return ESTIMATE_KINDS.get(kind, "~") if isinstance(kind, str) else "~"


def slowdown_figure(runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Slowdown vs plaintext (log scale), one panel per workload, one bar per technique, from the
    headline cells. Estimates are hatched and marked; a cell without a number names its status."""
    if runs.empty or "slowdown" not in runs.columns:
        return []
    workloads = order_workloads(runs["workload"])
    techniques = order_techniques(runs["technique"])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(workloads), figsize=(2.3 * len(workloads) + 1.0, 3.8), sharey=True,
                                 squeeze=False)
        for ax, wl in zip(axes[0], workloads, strict=True):
            for i, tech in enumerate(techniques):
                row = runs[(runs.technique == tech) & (runs.workload == wl)]
                st = technique_style(tech)
                if row.empty:
                    ax.annotate("not run", (i, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                                ha="center", va="bottom", fontsize=6, color="0.4")
                    continue
                r = row.iloc[0]
                s = _num(r.get("slowdown"))
                if s is None or (r["status"] != "ok" and not _estimated(r)):
                    ax.annotate(str(r["status"]), (i, 0.02), xycoords=("data", "axes fraction"),
                                rotation=90, ha="center", va="bottom", fontsize=6)
                    continue
                est = _estimated(r)
                ax.bar(i, s, 0.75, color="white" if est else st["color"], edgecolor="black",
                       hatch="////" if est else None, linewidth=0.6)
                ax.annotate(f"{_est_mark(r)}" if est else "", (i, s), ha="center", va="bottom", fontsize=7)
            ax.axhline(1.0, color="black", lw=0.6, ls=":")
            ax.set_yscale("log")
            ax.set_xticks(range(len(techniques)), techniques, rotation=90, fontsize=7)
            ax.set_title(wl)
            ax.grid(axis="x", visible=False)
        axes[0][0].set_ylabel("slowdown vs plaintext (same run), log scale")
        fig.suptitle("Slowdown per technique and workload (hatched: estimate, not measured)")
    return save(fig, out_dir, "slowdown")


def privacy_cost_figure(runs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """What each technique protects (measured input privacy) against what it costs: slowdown on
    the left, accuracy lost on the right. Marker = technique, fill = workload."""
    need = ["slowdown", "input_privacy"]
    if not set(need) <= set(runs.columns):
        return []
    runs = runs[runs["input_privacy"].map(_num).notna() & runs["slowdown"].map(_num).notna()]
    if runs.empty:
        return []
    workloads = order_workloads(runs["workload"])
    techniques = order_techniques(runs["technique"])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
        for tech in techniques:
            st = technique_style(tech)
            for j, wl in enumerate(workloads):
                for _, r in runs[(runs.technique == tech) & (runs.workload == wl)].iterrows():
                    style = {"marker": st["marker"], "s": 60, "edgecolors": st["color"], "linewidths": 1.4,
                             "facecolors": WORKLOAD_FILLS[j % len(WORKLOAD_FILLS)]}
                    axes[0].scatter(r["slowdown"], r["input_privacy"], **style)
                    loss = _num(r.get("accuracy_loss"))
                    if loss is not None:
                        axes[1].scatter(loss, r["input_privacy"], **style)
        _log(axes[0], x=True)
        axes[0].set_xlabel("slowdown vs plaintext (same run)")
        axes[1].set_xlabel("accuracy loss vs plaintext (same samples)")
        axes[0].set_ylabel("input privacy (1 = no attack beats chance)")
        for ax in axes:
            ax.set_ylim(-0.05, 1.05)
        fig.suptitle("Protection against cost, measured")
        handles = [plt.Line2D([], [], marker=technique_style(t)["marker"], color=technique_style(t)["color"],
                              mfc="none", ls="", label=t) for t in techniques]
        handles += [plt.Line2D([], [], marker="o", mec="black", mfc=WORKLOAD_FILLS[j % len(WORKLOAD_FILLS)],
                               ls="", label=wl) for j, wl in enumerate(workloads)]
        axes[1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                       title="marker: technique\nfill: workload", title_fontsize=7)
    return save(fig, out_dir, "privacy_vs_cost")


def sweep_records(df: pd.DataFrame, experiment: str, keys: list[str], figure: str,
                  note: Note) -> pd.DataFrame:
    """Records of ``experiment=<experiment>`` (else ad-hoc records carrying all ``keys``), newest per
    config; a record lacking a key the figure needs is left out with a message naming file and key."""
    runs = df[df["experiment"] == experiment]
    if runs.empty:
        runs = df[df["experiment"] == "adhoc"]
        runs = runs[np.logical_and.reduce([runs[k].notna() for k in keys])] if set(keys) <= set(df.columns) \
            and not runs.empty else runs.iloc[:0]
    if runs.empty:
        return runs
    runs = runs.sort_values("timestamp").groupby("config_hash", as_index=False).tail(1)
    keep = []
    for _, r in runs.iterrows():
        missing = [k for k in keys if k not in r.index or (r[k] is None or (isinstance(r[k], float)
                                                                             and math.isnan(r[k])))]
        if missing and r["status"] == "ok":
            note(f"figure {figure}: leaving out {r.get('record_file')}: it lacks the key {missing[0]!r}")
        if not missing:
            keep.append(r)
    return pd.DataFrame(keep)


def _points(rows: pd.DataFrame, x: str, y: str) -> list[tuple[float, float, bool, str]]:
    """(x, y, estimated, mark) of rows with both numbers, sorted by x."""
    out = []
    for _, r in rows.iterrows():
        xv, yv = _num(r.get(x)), _num(r.get(y))
        if xv is not None and yv is not None and (r["status"] == "ok" or _estimated(r)):
            out.append((xv, yv, _estimated(r), _est_mark(r)))
    return sorted(out)


def _plot_series(ax, pts, st: dict, label: str, ls="-") -> None:
    """A measured line with filled markers; estimates hollow, joined dashed, marked ~/≥."""
    meas = [(x, y) for x, y, e, _ in pts if not e]
    est = [(x, y, m) for x, y, e, m in pts if e]
    if meas:
        ax.plot(*zip(*meas, strict=True), marker=st["marker"], color=st["color"], ls=ls, label=label, ms=5)
    if est:
        ax.plot([p[0] for p in est], [p[1] for p in est], marker=st["marker"], color=st["color"], mfc="white",
                ls=":", label=None if meas else f"{label} (estimate)", ms=5)
        for x, y, m in est:
            ax.annotate(m, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)


def scaling_figure(df: pd.DataFrame, out_dir: Path, note: Note) -> list[Path]:
    """experiment=scaling: slowdown (top) and setup time (bottom: keys, compilation, DP training)
    against the model's parameter count (log-log), one line per technique, one column per base
    workload."""
    runs = sweep_records(df, "scaling", ["workload_parameters", "slowdown"], "scaling", note)
    if runs.empty:
        return []
    workloads = order_workloads(runs["workload"])
    rows_of = (("slowdown", "slowdown vs plaintext"), ("setup_s", "setup (s)"))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(workloads), figsize=(4.2 * len(workloads) + 1.5, 7.0), squeeze=False,
                                 sharex="col")
        for j, wl in enumerate(workloads):
            for tech in order_techniques(runs.loc[runs.workload == wl, "technique"]):
                rows = runs[(runs.workload == wl) & (runs.technique == tech)]
                for i, (key, _) in enumerate(rows_of):
                    pts = [p for p in _points(rows, "workload_parameters", key) if p[1] > 0]
                    _plot_series(axes[i][j], pts, technique_style(tech), tech)
            for i, (_, label) in enumerate(rows_of):
                _log(axes[i][j], x=True, y=True)
                axes[i][0].set_ylabel(label)
            axes[1][j].set_xlabel("model parameters")
            axes[0][j].set_title(f"{wl}, width sweep")
        _legend(axes[0][-1], loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.suptitle("Scaling: slowdown and setup against model size (hollow, dotted: estimate)")
    return save(fig, out_dir, "scaling")


def zk_figure(df: pd.DataFrame, out_dir: Path, note: Note) -> list[Path]:
    """experiment=zk_scaling: EZKL prove time per proof against the parameters in the circuit,
    one line per calibration target."""
    runs = sweep_records(df, "zk_scaling", ["prove_s"], "zk_prove", note)
    if runs.empty:
        return []
    # the circuit's own count first: in per-layer mode (minilm) the circuit is one encoder layer
    runs = runs.assign(_params=[_num(r.get("circuit_params")) or _num(r.get("workload_parameters"))
                                for _, r in runs.iterrows()])
    for _, r in runs[runs["_params"].isna()].iterrows():
        note(f"figure zk_prove: leaving out {r.get('record_file')}: it lacks the key 'circuit_params' "
             f"(or workload_parameters)")
    runs = runs[runs["_params"].notna()]
    if runs.empty:
        return []
    target = "param.calibration_target"
    groups = runs.groupby(runs[target].fillna("default")) if target in runs.columns else [("default", runs)]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for i, (name, rows) in enumerate(groups):
            st = {**technique_style("zk_ezkl"), "marker": MARKERS[i % len(MARKERS)]}
            _plot_series(ax, _points(rows, "_params", "prove_s"), st, f"calibration {name}",
                         ls=LINESTYLES[i % len(LINESTYLES)])
        for (wl, x), rows in runs.groupby(["workload", "_params"]):
            y = max(v for v in (_num(v) for v in rows["prove_s"]) if v is not None) if \
                rows["prove_s"].map(_num).notna().any() else None
            if y is not None:
                ax.annotate(wl, (x, y), xytext=(2, 6), textcoords="offset points", fontsize=6, color="0.3",
                            rotation=30)
        ax.margins(0.12, 0.2)  # room for the workload labels inside the frame
        _log(ax, x=True, y=True)
        ax.set_xlabel("model parameters in the circuit")
        ax.set_ylabel("prove time per proof (s)")
        _legend(ax)
        ax.set_title("EZKL: prove time against model size (hollow: estimate)")
    return save(fig, out_dir, "zk_prove")


def tee_paging_figure(df: pd.DataFrame, out_dir: Path, note: Note) -> list[Path]:
    """experiment=tee_paging: the modeled enclave overhead per call and the EPC pages swapped per
    call against the usable secure memory, one line per workload; the cliff is where the working
    set stops fitting."""
    runs = sweep_records(df, "tee_paging", ["usable_epc_mb", "modeled_overhead_s"], "tee_paging", note)
    if runs.empty:
        return []
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for j, wl in enumerate(order_workloads(runs["workload"])):
            rows = runs[runs.workload == wl]
            st = {"marker": MARKERS[j % len(MARKERS)], "color": COLOURS[(j + 1) % len(COLOURS)]}
            ls = LINESTYLES[j % len(LINESTYLES)]
            _plot_series(axes[0], _points(rows, "usable_epc_mb", "modeled_overhead_s"), st, wl, ls)
            swapped = "epc_pages_swapped_mean" if "epc_pages_swapped_mean" in rows else "epc_pages_swapped"
            pts = [(x, y + 1, e, m) for x, y, e, m in _points(rows, "usable_epc_mb", swapped)]
            _plot_series(axes[1], pts, st, wl, ls)
            ws = [_num(v) for v in rows.get("working_set_mb", pd.Series(dtype=float))]
            ws = [v for v in ws if v is not None]
            if ws:
                axes[0].axvline(max(ws), color=st["color"], ls=ls, lw=0.7, alpha=0.6)
        for ax in axes:
            _log(ax, x=True, base=2)
            ax.set_xlabel("usable secure memory, EPC (MB)")
        _log(axes[0], y=True)
        axes[0].set_ylabel("modeled enclave overhead per call (s)")
        _log(axes[1], y=True)
        axes[1].set_ylabel("EPC pages swapped per call + 1")
        _legend(axes[1], loc="upper left", bbox_to_anchor=(1.0, 1.0),
                title="workload (vertical: working set)")
        fig.suptitle("TEE paging cliff: overhead as the working set outgrows secure memory (modeled)")
    return save(fig, out_dir, "tee_paging")


def hybrid_nodes_figure(df: pd.DataFrame, out_dir: Path, note: Note) -> list[Path]:
    """experiment=hybrid_nodes: slowdown and bytes per inference against the number of nodes,
    one line per workload, non-linear mode and weights mode."""
    runs = sweep_records(df, "hybrid_nodes", ["param.nodes", "slowdown"], "hybrid_nodes", note)
    if runs.empty:
        return []
    # one line per (non-linear mode, weights mode): points of different modes never share a line
    keys = [c for c in ("param.nonlinear", "param.weights") if c in runs.columns]
    modes = sorted({tuple(r) for r in runs[keys].dropna().itertuples(index=False)}) if keys else [()]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for j, wl in enumerate(order_workloads(runs["workload"])):
            for k, m in enumerate(modes):
                sel = runs.workload == wl
                for col, value in zip(keys, m, strict=True):
                    sel &= runs[col] == value
                rows = runs[sel]
                if rows.empty:
                    continue
                st = {"marker": MARKERS[(j + k) % len(MARKERS)], "color": COLOURS[(j + 1) % len(COLOURS)]}
                label = ", ".join([wl, *(f"{v} weights" if c == "param.weights" else str(v)
                                         for c, v in zip(keys, m, strict=True))])
                ls = LINESTYLES[k % len(LINESTYLES)]
                _plot_series(axes[0], _points(rows, "param.nodes", "slowdown"), st, label, ls)
                _plot_series(axes[1], _points(rows, "param.nodes", "bytes_per_inference"), st, label, ls)
        axes[0].set_ylabel("slowdown vs plaintext")
        axes[1].set_ylabel("bytes per inference (all parties)")
        for ax in axes:
            _log(ax, y=True)
            ax.set_xlabel("nodes")
            ax.xaxis.get_major_locator().set_params(integer=True)
        _legend(axes[1], loc="upper left", bbox_to_anchor=(1.0, 1.0),
                title="workload, non-linear mode, weights")
        fig.suptitle("Nesa HSS-EE: cost against the number of nodes")
    return save(fig, out_dir, "hybrid_nodes")


def dp_figure(df: pd.DataFrame, out_dir: Path, note: Note) -> list[Path]:
    """experiment=dp_tradeoff: accuracy loss and membership-inference advantage against epsilon,
    with the (epsilon, delta)-DP bound on the advantage; the non-private model (epsilon null) is a
    dashed level."""
    eps = "param.target_epsilon"
    runs = df[df["experiment"] == "dp_tradeoff"]
    if runs.empty or eps not in runs.columns:
        return []
    runs = runs.sort_values("timestamp").groupby("config_hash", as_index=False).tail(1)
    runs = runs[runs["status"] == "ok"]
    for key in ("accuracy_loss", "mia_advantage"):
        for _, r in runs.iterrows():
            if key not in r.index or _num(r.get(key)) is None:
                note(f"figure dp_privacy_utility: {r.get('record_file')} lacks the key {key!r}")
    if runs.empty:
        return []
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for j, wl in enumerate(order_workloads(runs["workload"])):
            rows = runs[runs.workload == wl]
            private = rows[rows[eps].map(_num).notna()]
            public = rows[rows[eps].map(_num).isna()]
            # grayscale: workloads differ by marker and line style, not only colour
            st = {"marker": MARKERS[j % len(MARKERS)], "color": COLOURS[(j + 3) % len(COLOURS)]}
            ls = ("-", "--")[j % 2]
            for ax, key in zip(axes, ("accuracy_loss", "mia_advantage"), strict=True):
                if key not in rows.columns:
                    continue
                _plot_series(ax, _points(private, eps, key), st, f"{wl}, DP-SGD", ls)
                for v in public[key].map(_num).dropna():
                    ax.axhline(v, color=st["color"], ls=(":", (0, (1, 4)))[j % 2], lw=1.4,
                               label=f"{wl}, non-private (ε = ∞)")
            if "mia_advantage" in rows.columns and "mia_advantage_margin95" in rows.columns:
                pts = [(x, y, m) for x, y, m in ((_num(r[eps]), _num(r.get("mia_advantage")),
                                                  _num(r.get("mia_advantage_margin95")))
                                                 for _, r in private.iterrows())
                       if x is not None and y is not None and m is not None]
                if pts:
                    axes[1].errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                                     fmt="none", ecolor=st["color"], elinewidth=0.7, capsize=2 + 2 * j)
            if "mia_advantage_bound" in rows.columns:
                bound = _points(private, eps, "mia_advantage_bound")
                if bound:
                    axes[1].plot([b[0] for b in bound], [b[1] for b in bound], color="black", ls="-.", lw=1,
                                 label="(ε, δ)-DP bound on the advantage" if j == 0 else None)
        ticks = sorted({v for v in runs[eps].map(_num) if v is not None})
        for ax in axes:
            _log(ax, x=True)
            if ticks:  # label the swept values themselves: a short log range has one decade or none
                from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
                ax.xaxis.set_major_locator(FixedLocator(ticks))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("target ε (log scale)")
        axes[0].set_ylabel("accuracy loss vs plaintext model")
        axes[1].set_ylabel("membership-inference advantage\n(bars: ±95% margin)")
        axes[1].set_ylim(0, 1.05)
        _legend(axes[1], loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.suptitle("DP-SGD: utility lost and membership leakage against ε")
    return save(fig, out_dir, "dp_privacy_utility")


def sweep_figure(table: pd.DataFrame, experiment: str, out_dir: Path) -> list[Path]:
    """Every point of a one-parameter sweep with no figure of its own (``experiment_table``):
    accuracy loss and slowdown against the swept parameter, one line per (workload, technique)."""
    params = [c for c in table.columns if c.startswith("param.")]
    if len(params) != 1 or table.empty:
        return []
    p = params[0]
    if not all(_num(v) is not None or v is None or pd.isna(v) for v in table[p]):
        return []
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
        for i, ((wl, tech), rows) in enumerate(table.groupby(["workload", "technique"])):
            st = {**technique_style(tech), "marker": MARKERS[i % len(MARKERS)]}
            for ax, col in zip(axes, ("accuracy_loss", "slowdown"), strict=True):
                if col in rows.columns:
                    _plot_series(ax, _points(rows.assign(estimated=False), p, col), st, f"{tech} / {wl}",
                                 LINESTYLES[i % len(LINESTYLES)])
        for ax, label in zip(axes, ("accuracy loss vs plaintext", "slowdown vs plaintext"), strict=True):
            _log(ax, x=True)
            ax.set_xlabel(p[6:])
            ax.set_ylabel(label)
        _legend(axes[1], loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.suptitle(f"experiment={experiment}: every point of the sweep")
    return save(fig, out_dir, f"sweep_{experiment}")


#: Sweep figures drawn from their own experiment's records, by name.
SWEEP_FIGURES: dict[str, Callable[[pd.DataFrame, Path, Note], list[Path]]] = {
    "dp_tradeoff": dp_figure,
    "scaling": scaling_figure,
    "zk_scaling": zk_figure,
    "tee_paging": tee_paging_figure,
    "hybrid_nodes": hybrid_nodes_figure,
}


def draw_figures(df: pd.DataFrame, out_dir: Path, note: Note = print,
                 drawn_elsewhere: frozenset[str] = frozenset()) -> list[Path]:
    """Every figure that has records; one message per figure skipped for want of them. Sweeps in
    ``drawn_elsewhere`` are left to their own record folder (``reference_figures``)."""
    sel = headline_cells(df, HEADLINE)
    paths = []
    for name, draw in (("slowdown", slowdown_figure), ("privacy_vs_cost", privacy_cost_figure)):
        drawn = draw(sel.runs, out_dir)
        if not drawn:
            note(f"figure {name}: skipped, no experiment={HEADLINE} records with its numbers")
        paths += drawn
    for experiment, draw in SWEEP_FIGURES.items():
        if experiment in drawn_elsewhere:
            continue
        drawn = draw(df, out_dir, note)
        if not drawn:
            note(f"figure for experiment={experiment}: skipped, no records of it")
        paths += drawn
    for experiment in sorted(set(df["experiment"]) - set(SWEEP_FIGURES) - {HEADLINE, "adhoc"}):
        paths += sweep_figure(experiment_table(df, experiment), experiment, out_dir)
    return paths
