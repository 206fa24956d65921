"""Each sweep's figure is drawn from the records in its own folder (results/reference/<experiment>/runs),
by ``nesabench-report``; the DP figure from the committed records of a real run."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from nesabench.records import Record, write_record
from nesabench.report.reference_figures import draw_sweep_folders, sweep_folders
from nesabench.report.summary import load_frame, main

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "reference"


def _drawn(path: Path) -> None:
    assert path.stat().st_size > 1000, path
    png = Image.open(path).convert("L")
    lo, hi = png.getextrema()
    assert png.width > 300 and hi - lo > 100, path  # drawn, not blank


def test_the_dp_records_are_real_runs_covering_the_curve() -> None:
    df = load_frame(REFERENCE / "dp_tradeoff" / "runs")
    assert set(df["experiment"]) == {"dp_tradeoff"}
    ok = df[df["status"] == "ok"]
    for wl in ("mlp_cancer", "cnn_digits"):
        rows = ok[ok["workload"] == wl]
        eps = rows["param.target_epsilon"].dropna()
        assert eps.nunique() >= 5, (wl, sorted(eps))
        assert rows["param.target_epsilon"].isna().any(), f"{wl}: no non-private point"
        assert rows["accuracy_loss"].notna().all() and rows["mia_advantage"].notna().all()
        assert rows["mia_advantage_bound"].dropna().between(0, 1).all()


def test_figures_of_the_committed_sweep_folders_are_drawn(tmp_path) -> None:
    notes: list[str] = []
    paths = draw_sweep_folders(REFERENCE, tmp_path, load_frame, notes.append)
    stems = {p.stem for p in paths}
    assert "dp_privacy_utility" in stems, notes
    assert set(sweep_folders(REFERENCE)) <= {"dp_tradeoff", "scaling", "zk_scaling", "tee_paging",
                                             "hybrid_nodes"}
    for p in paths:
        if p.suffix == ".png":
            _drawn(p)
    _drawn(REPO / "paper_figures" / "dp_privacy_utility.png")  # the committed copy exists and is drawn


def _write(runs: Path, technique: str, experiment: str, key: str, **fields) -> None:
    rec = Record(technique=technique, workload="mlp_cancer", experiment=experiment, status="ok")
    rec.config_hash = f"{experiment}-{technique}-{key}"
    rec.update(fields)
    write_record(rec, runs)


def test_the_report_draws_each_sweep_from_its_own_folder(tmp_path) -> None:
    results = tmp_path / "reference"
    _write(results / "runs", "plaintext", "overhead_table", "a", slowdown=1.0, input_privacy=0.0)
    _write(results / "runs", "he_ckks", "overhead_table", "a", slowdown=2e4, input_privacy=1.0)
    for width, params in ((8, 266), (16, 530), (48, 1586), (128, 4226)):
        for tech, slow in (("plaintext", 1.0), ("he_ckks", 1e4 * width)):
            _write(results / "scaling" / "runs", tech, "scaling", str(width), workload_parameters=params,
                   slowdown=slow, **{"param.width": width})
    shutil.copytree(REFERENCE / "dp_tradeoff" / "runs", results / "dp_tradeoff" / "runs")
    figures = tmp_path / "figs"
    main([str(results), "--figures", str(figures)])
    for name in ("slowdown", "scaling", "dp_privacy_utility"):
        _drawn(figures / f"{name}.png")
        assert (figures / f"{name}.pdf").stat().st_size > 1000
    assert not (figures / "zk_prove.png").exists()  # no records of it anywhere
