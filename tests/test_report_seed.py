"""The seed's table from hand-made records: each measured mark, verdict and range follows the records
(ok, failed, unsupported, estimated, not scored, a technique missing), never the seed's claim."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from nesabench.records import Record, write_record
from nesabench.report.seed_table import CLAIMS_FILE, held_sentence, seed_rows
from nesabench.report.summary import load_frame, main
from nesabench.report.tables import headline_cells

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ["mlp_cancer", "cnn_digits", "tiny_transformer", "minilm"]


def _write(runs: Path, technique: str, workload: str, **fields) -> None:
    rec = Record(technique=technique, workload=workload, experiment="overhead_table")
    rec.config_hash = f"{technique}-{workload}"
    rec.update(fields)
    write_record(rec, runs)


@pytest.fixture
def runs(tmp_path) -> Path:
    runs = tmp_path / "runs"
    for wl in WORKLOADS:
        _write(runs, "plaintext", wl, status="ok", slowdown=1.0, input_privacy=0.0, accuracy_loss=0.0)
        # DP: DP-SGD leaves the input readable; input noise hides it but loses the answer
        _write(runs, "dp_sgd", wl, status="ok", slowdown=1.1, input_privacy=0.0, accuracy_loss=0.02)
        _write(runs, "dp_input", wl, status="ok", slowdown=1.3, input_privacy=1.0, accuracy_loss=0.5)
        # the hybrid: private and verified everywhere, but 50x slower
        _write(runs, "nesa_hybrid", wl, status="ok", slowdown=50.0, input_privacy=0.97, accuracy_loss=0.0,
               verified=True, tamper_detection_rate=1.0)
    for wl in WORKLOADS[:2]:
        _write(runs, "he_ckks", wl, status="ok", slowdown=2e4, input_privacy=1.0, accuracy_loss=0.01)
    for wl in WORKLOADS[2:]:
        _write(runs, "he_ckks", wl, status="unsupported", estimated=True, slowdown=3e6,
               estimate_kind="lower_bound", reason="softmax")
    _write(runs, "he_tfhe", "mlp_cancer", status="ok", slowdown=1.7e5, input_privacy=None, accuracy_loss=0.0)
    _write(runs, "zk_ezkl", "mlp_cancer", status="ok", slowdown=2e5, input_privacy=0.0, accuracy_loss=0.0,
           verified=True, tamper_detection_rate=1.0)
    _write(runs, "zk_ezkl", "cnn_digits", status="failed", reason="RuntimeError: out of memory")
    # Nesa EE: only an estimate, no run
    _write(runs, "nesa_ee", "minilm", status="unsupported", estimated=True, slowdown=2.0, reason="x")
    # TEE and HSS: no records at all
    return runs


def _rows(runs: Path) -> dict:
    return {r.family: r for r in seed_rows(headline_cells(load_frame(runs)).runs)}


def test_marks_and_verdicts_follow_the_records(runs) -> None:
    rows = _rows(runs)
    he, zkp, dp, tee, ee, hss, hyb = (rows[k] for k in ("he", "zkp", "dp", "tee", "nesa_ee", "nesa_hss",
                                                         "nesa_hybrid"))
    # HE: CKKS scores 1.0 where it runs (TFHE unscored does not pull it down), no check, refuses two
    assert [he.marks[k].text for k in ("input_privacy", "verifiability", "scale")] == ["✅", "❌", "❌"]
    assert [he.verdict(k) for k in ("input_privacy", "verifiability", "scale")] == ["agrees"] * 3
    assert "unsupported on tiny_transformer, minilm" in he.marks["scale"].figures
    assert "he_tfhe: input privacy not scored" in he.marks["input_privacy"].figures
    assert "≥3e6× estimated" in he.slowdown and "2e4×" in he.slowdown
    # ZKP: the prover reads the input, the proof catches tampering, 2e5x: a failed run counts for nothing
    assert [zkp.marks[k].text for k in ("input_privacy", "verifiability", "scale")] == ["❌", "✅", "❌"]
    assert "not measured on cnn_digits, tiny_transformer, minilm" in zkp.marks["scale"].figures
    # DP: input noise scores 1.0 but loses 0.5 accuracy, so no technique of the family earns privacy
    assert dp.marks["input_privacy"].text == "❌" and dp.verdict("input_privacy") == "agrees"
    assert dp.marks["scale"].text == "✅" and dp.verdict("scale") == "agrees"
    assert "dp_input: input privacy 1.00, accuracy loss ≤ 0.50" in dp.marks["input_privacy"].figures
    # TEE: no records -> not measured, never the seed's mark
    assert {tee.marks[k].text for k in tee.marks} == {"not measured"}
    assert {tee.verdict(k) for k in tee.marks} == {"not measured"}
    assert "tee_sim: no records" in tee.marks["scale"].figures
    # EE: an estimate alone is not a measurement; the seed makes no claim about it
    assert ee.marks["scale"].text == "not measured" and ee.verdict("scale") == "no claim"
    assert "~2× estimated" in ee.slowdown
    assert hss.marks["input_privacy"].value is None
    # the hybrid: private and verified (claims hold), 50x median (the scale claim does not)
    assert [hyb.verdict(k) for k in ("input_privacy", "verifiability", "scale")] == \
        ["agrees", "agrees", "disagrees"]
    assert "median 50× on 4/4 workloads" in hyb.marks["scale"].figures


def test_held_sentence_counts_what_the_table_says(runs) -> None:
    rows = seed_rows(headline_cells(load_frame(runs)).runs)
    text = held_sentence(rows)
    assert text.startswith("**11 of the seed's 15 claimed marks held")
    assert "1 did not: Nesa hybrid practical at scale (claimed ✅, measured ❌)" in text
    assert "3 could not be measured: TEE input privacy at inference; TEE verifiability; TEE practical" in text


def test_report_writes_the_seed_table_files(runs, capsys) -> None:
    main([str(runs.parent), "--figures", str(runs.parent / "figs")])
    out = capsys.readouterr().out
    tables = runs.parent / "tables"
    md = (tables / "seed_table.md").read_text()
    assert "✅ (assumed) → not measured: not measured" in md and "| Nesa hybrid" in md
    csv = pd.read_csv(tables / "seed_table.csv")
    assert list(csv["family"]) == ["he", "zkp", "dp", "tee", "nesa_ee", "nesa_hss", "nesa_hybrid"]
    assert csv.set_index("family").loc["tee", "input_privacy.seed"] == "✅ (assumed)"
    assert csv.set_index("family").loc["tee", "input_privacy.measured"] == "not measured"
    assert (tables / "seed_table.tex").read_text().startswith("\\begin{tabular}")
    assert "## The seed's table, measured" in out


def _seed_text() -> str | None:
    for base in (ROOT.parent, ROOT.parent.parent, ROOT.parent.parent.parent):
        path = base / "shared" / "seed" / "why-privacy-matters.txt"
        if path.exists():
            return path.read_text()
    return None


#: A copy of the seed text, so the quotes are checked in a bare clone too (CI); where the original
#: is next to the checkout, the copy must still equal it.
SEED_COPY = ROOT / "tests" / "data" / "seed-why-privacy-matters.txt"


def test_the_seed_copy_is_the_seed() -> None:
    original = _seed_text()
    assert original is None or SEED_COPY.read_text() == original


def test_every_claim_quotes_the_seed_verbatim() -> None:
    seed = SEED_COPY.read_text()
    claims = yaml.safe_load(CLAIMS_FILE.read_text())
    cells = " | ".join(line.strip() for line in seed.splitlines())
    for row in claims["rows"]:
        if row.get("table_row"):
            assert row["table_row"] in cells, row["table_row"]
            marks = row["table_row"].split(" | ")[1:4]
            assert [row["claims"][c["key"]]["mark"] for c in claims["columns"]] == marks
        for claim in row["claims"].values():
            if claim["quote"]:
                assert claim["quote"] in seed, claim["quote"]
