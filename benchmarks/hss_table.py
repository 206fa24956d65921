"""Tables for docs/hss.md from nesa_hss / nesa_hybrid run records (nothing typed by hand).

    python benchmarks/hss_table.py results/runs > /tmp/hss_tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def attention(d: dict) -> str | None:
    """The attention that ran (the record's metric; older records only have the parameter)."""
    return d.get("attention", d.get("param.attention"))


def load(folder: str) -> list[dict]:
    out = []
    for f in sorted(Path(folder).glob("*.json")):
        r = json.loads(f.read_text())
        if r.get("technique") in ("nesa_hss", "nesa_hybrid"):
            out.append({**r, **r.get("extra", {}), "file": f.name})
    return out


def wire_bytes(d: dict) -> float:
    """Each byte once: what every party sent (group 0 and the client)."""
    nodes = int(d.get("nodes") or d.get("param.nodes") or 0)
    sent = [float(d.get(f"bytes_sent.node{j}", 0)) for j in range(nodes)]
    return float(d.get("bytes_sent.client", 0)) + sum(sent)


def fmt(v: object, spec: str = ".3g") -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def main(folder: str) -> None:
    recs = load(folder)
    print("| technique | workload | nodes | nonlinear | weights | truncation | status | slowdown | p50 s | "
          "plaintext p50 s | bytes/inference | rounds | client flops | client time | agreement | "
          "max abs err | record |")
    print("|" + "---|" * 17)
    for d in recs:
        print("| " + " | ".join([
            d["technique"], d["workload"], fmt(d.get("param.nodes")), fmt(d.get("param.nonlinear")),
            fmt(d.get("param.weights")) + (" attn=client" if attention(d) == "client" else ""),
            fmt(d.get("param.truncation")), d["status"],
            fmt(d.get("slowdown")), fmt(d.get("latency_p50_s")), fmt(d.get("plaintext_latency_p50_s")),
            fmt(wire_bytes(d), ".3g") if d["status"] == "ok" else "-", fmt(d.get("rounds_per_inference")),
            fmt(d.get("client_flops_fraction")), fmt(d.get("client_time_fraction")),
            fmt(d.get("fidelity_agreement")), fmt(d.get("fidelity_max_abs_err")),
            d["file"][:30]]) + " |")
    print()
    print("| technique | workload | nodes | nonlinear | node input_privacy (each) | collusion (1..k of k) | "
          "best attack | cpu load |")
    print("|---|---|---|---|---|---|---|---|")
    for d in recs:
        if d["status"] != "ok":
            continue
        k = int(d.get("param.nodes") or 0)
        each = " / ".join(fmt(d.get(f"leakage.node{j}.input_privacy"), ".2f") for j in range(k))
        coll = " / ".join(fmt(d.get(f"leakage.collusion_{j}_of_{k}.input_privacy"), ".2f")
                          for j in range(1, k + 1))
        print(f"| {d['technique']} | {d['workload']} | {k} | {d.get('param.nonlinear')} | {each} | {coll} | "
              f"{d.get('leakage_attack')} | {fmt(d.get('cpu_load_1m'), '.1f')} |")
    print()
    print("| workload | replicas | tamper detection (all / noise / flip / skip / stale) | false alarms | "
          "Freivalds bound | verify s | verify / latency |")
    print("|---|---|---|---|---|---|---|")
    for d in recs:
        if d["technique"] != "nesa_hybrid" or d["status"] != "ok":
            continue
        modes = " / ".join(fmt(d.get(f"tamper_detection_rate.{m}"), ".2f")
                           for m in ("noise", "flip", "skip", "stale"))
        rate = fmt(d.get("tamper_detection_rate"), ".2f")
        print(f"| {d['workload']} | {d.get('replicas')} | {rate} / {modes} | "
              f"{fmt(d.get('false_alarm_rate'))} | {fmt(d.get('freivalds_false_accept_bound'))} | "
              f"{fmt(d.get('verify_s'))} | {fmt(d.get('verify_overhead_fraction'))} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/runs")
