"""Every figure is drawn, non-empty, from hand-made records of its experiment; a figure without
records is skipped with a message, and a record lacking a key a figure needs is named."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from nesabench.records import Record, write_record
from nesabench.report.figures import draw_figures
from nesabench.report.summary import load_frame

WORKLOADS = ["mlp_cancer", "cnn_digits", "tiny_transformer", "minilm"]


def _write(runs: Path, technique: str, workload: str, experiment: str, key: str = "", **fields) -> Record:
    rec = Record(technique=technique, workload=workload, experiment=experiment, status="ok")
    rec.config_hash = f"{experiment}-{technique}-{workload}-{key}"
    rec.update(fields)
    write_record(rec, runs)
    return rec


def _records(runs: Path) -> None:
    for wl in WORKLOADS:
        _write(runs, "plaintext", wl, "overhead_table", slowdown=1.0, input_privacy=0.0, accuracy_loss=0.0)
        _write(runs, "he_ckks", wl, "overhead_table", slowdown=2e4, input_privacy=1.0, accuracy_loss=0.01)
        _write(runs, "zk_ezkl", wl, "overhead_table", status="unsupported", estimated=True, slowdown=2e5)
    for eps in (0.5, 1.0, 4.0, None):
        _write(runs, "dp_sgd", "cnn_digits", "dp_tradeoff", key=str(eps), accuracy_loss=0.1 if eps else 0.0,
               mia_advantage=0.05, mia_advantage_margin95=0.09,
               mia_advantage_bound=None if eps is None else min(1.0, eps / 2),
               **{"param.target_epsilon": eps})
    for tech in ("he_ckks", "nesa_hss"):
        for width, params in ((16, 530), (64, 2114), (256, 8450)):
            _write(runs, tech, "mlp_cancer", "scaling", key=str(width), workload_parameters=params,
                   slowdown=2e4 * width if tech == "he_ckks" else 50.0 + width, **{"param.width": width})
    _write(runs, "he_ckks", "tiny_transformer", "scaling", status="unsupported", estimated=True,
           workload_parameters=20000, slowdown=3e6)
    for target in ("resources", "accuracy"):
        for wl, params in (("mlp_cancer", 530), ("cnn_digits", 1370)):
            _write(runs, "zk_ezkl", wl, "zk_scaling", key=target, circuit_params=params, prove_s=8.0,
                   **{"param.calibration_target": target})
        _write(runs, "zk_ezkl", "minilm", "zk_scaling", key=target, status="unsupported", estimated=True,
               workload_parameters=22_700_000, prove_s=2000.0, **{"param.calibration_target": target})
    for wl, ws in (("tiny_transformer", 32.1), ("minilm", 120.0)):
        for epc in (16, 32, 64, 128):
            fits = epc > ws
            _write(runs, "tee_sim", wl, "tee_paging", key=str(epc), usable_epc_mb=epc, working_set_mb=ws,
                   modeled_overhead_s=1e-4 if fits else 0.1, epc_pages_swapped_mean=0 if fits else 8000,
                   **{"param.profile.usable_epc_mb": epc})
    for wl in ("mlp_cancer", "cnn_digits"):
        for nodes in (2, 3, 5):
            for mode in ("client", "reveal_permuted"):
                _write(runs, "nesa_hss", wl, "hybrid_nodes", key=f"{nodes}{mode}", slowdown=50.0 * nodes,
                       bytes_per_inference=1000 * nodes, **{"param.nodes": nodes, "param.nonlinear": mode})


FIGURES = ["slowdown", "privacy_vs_cost", "dp_privacy_utility", "scaling", "zk_prove", "tee_paging",
           "hybrid_nodes"]


def test_every_figure_is_drawn_from_its_records(tmp_path) -> None:
    runs = tmp_path / "runs"
    _records(runs)
    notes: list[str] = []
    paths = draw_figures(load_frame(runs), tmp_path / "figs", note=notes.append)
    assert {p.stem for p in paths} == set(FIGURES), notes
    for name in FIGURES:
        assert (tmp_path / "figs" / f"{name}.pdf").stat().st_size > 1000
        png = Image.open(tmp_path / "figs" / f"{name}.png").convert("L")
        lo, hi = png.getextrema()
        assert png.width > 300 and hi - lo > 100, name  # drawn, not blank
    assert notes == []


def test_figures_without_records_are_skipped_with_a_message(tmp_path) -> None:
    runs = tmp_path / "runs"
    _write(runs, "plaintext", "mlp_cancer", "overhead_table", slowdown=1.0, input_privacy=0.0)
    notes: list[str] = []
    paths = draw_figures(load_frame(runs), tmp_path / "figs", note=notes.append)
    assert {p.stem for p in paths} == {"slowdown", "privacy_vs_cost"}
    for experiment in ("dp_tradeoff", "scaling", "zk_scaling", "tee_paging", "hybrid_nodes"):
        assert f"figure for experiment={experiment}: skipped, no records of it" in notes


def test_a_record_lacking_a_figure_key_is_left_out_and_named(tmp_path) -> None:
    runs = tmp_path / "runs"
    _write(runs, "he_ckks", "mlp_cancer", "scaling", key="a", workload_parameters=530, slowdown=2e4)
    _write(runs, "he_ckks", "mlp_cancer", "scaling", key="b", workload_parameters=2114, slowdown=4e4)
    bad = _write(runs, "he_ckks", "mlp_cancer", "scaling", key="c", slowdown=8e4)
    notes: list[str] = []
    paths = draw_figures(load_frame(runs), tmp_path / "figs", note=notes.append)
    assert "scaling" in {p.stem for p in paths}
    assert any(n.startswith("figure scaling: leaving out ") and bad.run_id in n
               and "lacks the key 'workload_parameters'" in n for n in notes), notes
