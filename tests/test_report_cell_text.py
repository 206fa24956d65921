"""Table cells shorten long run modes and reasons without cutting a word; the CSV and the records
keep them in full."""

from __future__ import annotations

import pandas as pd

from nesabench.records import Record, write_record
from nesabench.report.cell_text import MAX_CHARS, clip_words, short_mode
from nesabench.report.ee_variants_table import REASON_CHARS, row
from nesabench.report.summary import load_frame
from nesabench.report.tables import overhead_cell, overhead_table

HSS_MODE = "2 nodes, client non-linear, client attention, permuted weights"


def test_the_nesa_hss_mode_reads_short_in_the_cell_and_says_the_same_things() -> None:
    short = short_mode(HSS_MODE)
    assert short == "2 nodes, client NL+attn, permuted W"
    assert len(short) <= MAX_CHARS
    cell = overhead_cell(pd.Series({"status": "ok", "slowdown": 20.9, "mode": HSS_MODE}))
    assert cell == "20.9× (2 nodes, client NL+attn, permuted W)"
    assert overhead_cell(pd.Series({"status": "ok", "slowdown": 20.9, "mode": HSS_MODE}), full_mode=True) \
        == f"20.9× ({HSS_MODE})"


def test_short_modes_are_unchanged_and_a_per_layer_cost_keeps_its_layer_count() -> None:
    for mode in ("client-aided", "hybrid (linear in FHE)", "client-aided, measured per layer x 6"):
        assert short_mode(mode) == mode
    long = "a few nodes, second part that is long, third part that is longer, measured per layer x 12"
    short = short_mode(long)
    assert short.endswith(", …, measured per layer x 12") and short.startswith("a few nodes")
    assert len(short) <= MAX_CHARS


def test_the_overhead_csv_keeps_the_full_mode(tmp_path) -> None:
    runs = tmp_path / "runs"
    for tech, slow, mode in (("plaintext", 1.0, None), ("nesa_hss", 20.9, HSS_MODE)):
        rec = Record(technique=tech, workload="mlp_cancer", experiment="overhead_table", status="ok")
        rec.config_hash = tech
        rec.update({"slowdown": slow, "mode": mode})
        write_record(rec, runs)
    df = load_frame(runs)
    assert overhead_table(df).loc["nesa_hss", "mlp_cancer"] == "20.9× (2 nodes, client NL+attn, permuted W)"
    assert overhead_table(df, full_mode=True).loc["nesa_hss", "mlp_cancer"] == f"20.9× ({HSS_MODE})"


def test_clip_words_ends_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "equivariant encryption cannot fold BertModel at encoder: post-LayerNorm: the residual stream"
    for limit in range(12, len(text)):
        out = clip_words(text, limit)
        assert len(out) <= limit and out.endswith("…"), (limit, out)
        kept = out[:-1]
        assert text.startswith(kept) and text[len(kept)] in " :,", (limit, out)  # whole words only
    assert clip_words(text, len(text)) == text
    assert clip_words("a\n  b", 10) == "a b"


def test_an_ee_variants_reason_is_cut_at_a_word_boundary() -> None:
    reason = ("equivariant encryption cannot fold BertModel at encoder: post-LayerNorm: the residual stream "
              "itself passes through LayerNorm's mean subtraction, which no orthogonal map commutes with, so "
              "variant e has nothing to rotate")
    cell = row("minilm", "e", "", {"status": "unsupported", "reason": reason})[2]
    assert cell.startswith("unsupported: equivariant") and cell.endswith("…")
    kept = cell[len("unsupported: "):-1]
    assert len(kept) < REASON_CHARS and reason.startswith(kept) and reason[len(kept)] == " "
