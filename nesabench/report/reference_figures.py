"""Figures of sweeps kept in their own record folders under a results folder.

A reference folder holds the headline records in ``runs/`` and each sweep's records in a folder
named after its experiment (``results/reference/dp_tradeoff/runs``, ``.../scaling/runs``, ...), so
that one sweep's rerun never mixes with another's. ``nesabench-report results/reference`` draws
the figure of every such folder too, each from its own folder's records only, into the same
figures folder: the committed ``paper_figures/`` then come from committed records.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from nesabench.report.figures import SWEEP_FIGURES, Note


def sweep_folders(results_dir: Path) -> dict[str, Path]:
    """Experiment name -> its ``runs`` folder, for every sweep figure whose folder exists."""
    return {name: results_dir / name / "runs" for name in SWEEP_FIGURES
            if (results_dir / name / "runs").is_dir()}


def draw_sweep_folders(results_dir: Path, out_dir: Path, load: Callable[[Path], pd.DataFrame],
                       note: Note) -> list[Path]:
    """Each sweep figure from its own folder under ``results_dir``; a folder whose records do not
    draw its figure is named in a message."""
    paths: list[Path] = []
    for name, runs in sweep_folders(results_dir).items():
        try:
            df = load(runs)
        except FileNotFoundError:
            note(f"figure for experiment={name}: skipped, {runs} holds no records")
            continue
        drawn = SWEEP_FIGURES[name](df, out_dir, note)
        if not drawn:
            note(f"figure for experiment={name}: skipped, no record in {runs} has its numbers")
        paths += drawn
    return paths
