"""The README's EE variants table comes from records of experiment=ee_variants, and only from them."""

from __future__ import annotations

import json
from pathlib import Path

from nesabench.report import ee_variants_table as T

ROOT = Path(__file__).resolve().parents[1]


def record(workload: str, variant: str, **extra) -> dict:
    base = {"technique": "nesa_ee", "workload": workload, "param.variant": variant, "status": "ok",
            "reason": "", "experiment": "ee_variants", "variant": [], "timestamp": "2026-11-29T01:00:00+0000",
            "cpu_load_1m": 0.4, "leakage_eval_samples": 64, "attacker_knows_model": True}
    return {**base, **extra}


MINILM_B = record(
    "minilm", "b", slowdown=1.013, bytes_to_nodes=256, setup_bytes_to_nodes=90859024,
    view_kinds="node:activation node:output node:permuted_activation node:weights",
    input_privacy=0.0, model_privacy=0.0, leakage_attack="node:weight_vocab_token_recovery@x",
    **{"leakage.node.weight_key_recovery": 1.0, "leakage.node.weight_vocab_key": 1.0,
       "leakage.node.activation_only_key_q1": 0.06, "leakage.node.activation_only_key_q64": 0.9,
       "leakage.node.weight_vocab_token_recovery": 1.0, "leakage.node.weight_embedding_inversion": 0.97})
CNN_D = record(
    "cnn_digits", "d", slowdown=10.1, bytes_to_nodes=5736, setup_bytes_to_nodes=0,
    view_kinds="node:plain_input node:permuted_activation node:weights", input_privacy=None,
    input_leakage_detectable=None, model_privacy=1.0, model_leakage_detectable=0.12, leakage_attack="none",
    attacker_knows_model=False,
    leakage_attacker_samples=0,
    **{"leakage.node.coordinate_matching": 0.17, "leakage.node.key_recovery": 0.14,
       "leakage.node.surrogate_key_recovery": 0.125,
       "leakage.node.surrogate_unpermuted_r2": -0.3})
CNN_E = record("cnn_digits", "e", status="unsupported", reason="a rotation commutes with no\nReLU")


def table(records: list[dict]) -> dict[tuple[str, str], dict[str, str]]:
    return {(r[0], r[1]): dict(zip(T.HEADER, r, strict=True)) for r in T.rows(records)}


def test_one_row_per_variant_and_workload_from_the_records_alone():
    old = {**MINILM_B, "slowdown": 5.0, "timestamp": "2026-11-28T01:00:00+0000"}
    adhoc = {**MINILM_B, "experiment": "adhoc", "slowdown": 7.0, "timestamp": "2026-11-30T00:00:00+0000"}
    rows = table([old, MINILM_B, adhoc, CNN_D, CNN_E])
    assert len(T.rows([MINILM_B])) == len(T.WORKLOADS) * len(T.VARIANTS)
    b = rows[("minilm", "b")]
    assert b["slowdown"] == "1.01x"  # the newest record of the experiment, never the adhoc run
    assert b["bytes to node / query"] == "256" and b["bytes to node / setup"] == "90,859,024"
    assert b["key from weights"] == "hidden 1.00, vocabulary 1.00"
    assert b["key from activations alone (queries)"].startswith("0.06 / 0.90 at 1 / 64 q")
    assert "tokens 1.00 (vocabulary key)" in b["input recovered after un-permuting"]
    assert b["input / model privacy (attack)"] == "0.00 / 0.00 (node:weight_vocab_token_recovery@x)"
    d = rows[("cnn_digits", "d")]
    assert d["key from weights"] == "not used: the attacker does not know the model"
    alone = d["key from activations alone (queries)"]
    assert "0.17 over 64 q" in alone and "0.12 per query (own surrogate)" in alone
    assert "0.14 from known pairs (4-fold over the evaluated queries)" in alone
    assert d["input recovered after un-permuting"].startswith("input sent in the clear")
    assert d["input / model privacy (attack)"].startswith("not scored / 1.00 (MDE 0.12)")
    assert rows[("cnn_digits", "e")]["status"] == "unsupported: a rotation commutes with no ReLU"
    assert rows[("minilm", "a")]["status"] == "no record"  # a missing cell is said, not filled in


def test_records_with_extra_overrides_get_their_own_labelled_row():
    embeds = {**MINILM_B, "variant": ["technique.client_embeds=true"]}
    rows = table([MINILM_B, embeds])
    assert ("minilm", "b technique.client_embeds=true") in rows and ("minilm", "b") in rows


def test_the_readme_block_is_rewritten_from_a_records_folder(tmp_path):
    runs = tmp_path / "ee" / "runs"
    runs.mkdir(parents=True)
    for i, r in enumerate([MINILM_B, CNN_D]):
        (runs / f"r{i}.json").write_text(json.dumps(r))
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- report:ee-variants -->\nSTALE\n<!-- /report:ee-variants -->\n"
                      "<!-- report:overhead -->\nkept\n<!-- /report -->\n")
    assert T.rewrite_readme(readme, tmp_path / "ee")
    text = readme.read_text()
    assert "STALE" not in text and "| minilm | b | ok | 1.01x |" in text and "kept" in text
    assert "From 2 records of `experiment=ee_variants`" in text
    assert not T.rewrite_readme(readme, tmp_path / "ee")  # already up to date
    assert T.render_from(text, tmp_path / "absent") == text  # no records folder: the block is left alone


def test_the_readme_table_is_what_the_committed_records_render():
    readme = (ROOT / "README.md").read_text()
    assert "<!-- report:ee-variants -->" in readme
    assert T.render_from(readme, ROOT / "results" / "reference" / "ee_variants") == readme, (
        "README's EE table differs from results/reference/ee_variants: run `.venv/bin/python -m "
        "nesabench.report.ee_variants_table results/reference/ee_variants --readme README.md`")
