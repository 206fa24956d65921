"""The EE hardening table (docs/ee.md), read only from run records.

Every nesa_ee record of a folder, old ones without an experiment label included; the README's table
(only records of experiment=ee_variants) is rendered by nesabench.report.ee_variants_table.

    nesabench -m workload=minilm,cnn_digits technique=nesa_ee technique.variant=a,b,c,d,e \\
        paths.results_dir=results/ee
    nesabench -m workload=minilm technique=nesa_ee technique.variant=b,c technique.client_embeds=true \\
        paths.results_dir=results/ee
    python benchmarks/ee_variants.py results/ee
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def fmt(v: object, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def row(r: dict) -> list[str]:
    embeds = " +client_embeds" if r.get("param.client_embeds") else ""
    name = f"{r['workload']} | {r.get('param.variant')}{embeds}"
    if r["status"] != "ok":
        return [name, r["status"], r.get("reason", "")[:120], *["-"] * 6]
    node = "leakage.node."
    key_w = r.get(f"{node}weight_key_recovery")
    vocab_w = r.get(f"{node}weight_vocab_key")
    weights_key = " / ".join(x for x in (f"hidden {fmt(key_w)}" if key_w is not None else "",
                                         f"vocab {fmt(vocab_w)}" if vocab_w is not None else "") if x)
    curve = [f"{q}q {fmt(r[node + 'activation_only_key_q' + q])}" for q in ("1", "4", "16", "64")
             if r.get(node + "activation_only_key_q" + q) is not None]
    act_key = (f"{', '.join(curve) + ' (ciphertext-only curve); ' if curve else ''}"
               f"{fmt(r.get(node + 'coordinate_matching'))} (ciphertext-only, "
               f"{r.get('leakage_eval_samples')} q) / {fmt(r.get(node + 'key_recovery'))} "
               f"(known pairs, {r.get('leakage_attacker_samples')})")
    recovered = [f"{k}={fmt(r.get(node + k))}" for k in (
        "weight_vocab_token_recovery", "weight_embedding_inversion", "weight_unpermuted_token_recovery",
        "weight_unpermuted_input", "weight_unpermuted_r2") if r.get(node + k) is not None]
    if "node:plain_input" in r.get("view_kinds", ""):
        recovered.insert(0, "input sent in the clear")
    return [name, "ok", f"{fmt(r.get('slowdown'))}x", f"{r.get('bytes_to_nodes'):,}",
            f"{r.get('setup_bytes_to_nodes', 0):,}", weights_key or "-", act_key, "; ".join(recovered) or "-",
            f"{fmt(r.get('input_privacy'))} / {fmt(r.get('model_privacy'))} ({r.get('leakage_attack')})"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    args = ap.parse_args()
    records = [json.loads(p.read_text()) for p in sorted((args.results / "runs").glob("*.json"))]
    records = [r for r in records if r.get("technique") == "nesa_ee"]
    latest: dict[tuple, dict] = {}
    for r in records:
        latest[(r["workload"], r.get("param.variant"), r.get("param.client_embeds"))] = r
    head = ["workload | variant", "status", "slowdown", "bytes to node / query", "bytes to node / setup",
            "key from weights", "key from activations alone", "input recovered after un-permuting",
            "input / model privacy (attack)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * (len(head) + 1))
    for k in sorted(latest, key=lambda k: (k[0], str(k[1]), bool(k[2]))):
        print("| " + " | ".join(row(latest[k])) + " |")


if __name__ == "__main__":
    main()
