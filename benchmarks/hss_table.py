"""Tables for docs/hss.md and the README from nesa_hss / nesa_hybrid run records (nothing typed by hand).

    python benchmarks/hss_table.py results/runs > /tmp/hss_tables.md
    # the README's HSS table, from
    #   nesabench -m experiment=hybrid_nodes paths.results_dir=results/hybrid_nodes
    python benchmarks/hss_table.py results/hybrid_nodes/runs --readme --experiment hybrid_nodes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def attention(d: dict) -> str | None:
    """The attention that ran (the record's metric; older records only have the parameter)."""
    return d.get("attention", d.get("param.attention"))


def load(folder: str, experiment: str | None = None) -> list[dict]:
    out = []
    for f in sorted(Path(folder).glob("*.json")):
        r = json.loads(f.read_text())
        if r.get("technique") in ("nesa_hss", "nesa_hybrid") and (
                experiment is None or r.get("experiment") == experiment):
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


#: Published reference points printed under the README table (CrypTen, Knott et al., NeurIPS 2021).
CRYPTEN = ("CrypTen's published figures for a feed-forward network: 142x plaintext in 1 process, "
           "47x with 2 parties (both hide every intermediate value; not run here).")

WORKLOAD_ORDER = {"mlp_cancer": 0, "cnn_digits": 1, "tiny_transformer": 2, "minilm": 3}


def megabytes(v: float) -> str:
    return f"{v / 1e6:.2f} MB" if v >= 1e5 else f"{v / 1e3:.1f} KB"


def readme_table(recs: list[dict]) -> None:
    """The README's HSS table: one row per (workload, weights, non-linear mode, nodes), newest
    record of each; unsupported cells say why."""
    latest: dict[tuple, dict] = {}
    for d in recs:  # files sort by timestamp: a later record of the same cell replaces an earlier one
        if d["technique"] != "nesa_hss":
            continue
        nodes = int(d.get("param.nodes") or 0)
        key = (d["workload"], d.get("param.weights"), d.get("param.nonlinear"), nodes)
        latest[key] = d
    print("| workload | nodes | non-linear | weights | slowdown | p50 s (plaintext) | bytes / inference | "
          "rounds | client share of ops | client time | top-1 agreement | input privacy: one node / all "
          "nodes | cpu load |")
    print("|" + " --- |" * 13)
    for key in sorted(latest, key=lambda t: (WORKLOAD_ORDER.get(t[0], 9), t[0], t[1] != "permuted",
                                            t[2] != "client", t[3])):
        d = latest[key]
        wl, weights, nonlinear, k = key
        head = f"| {wl} | {k} | {nonlinear} | {weights} |"
        if d["status"] != "ok":
            reason = str(d.get("reason") or "").split(";")[0]
            print(head + f" {d['status']}: {reason} |" + " |" * 8)
            continue
        scores = [d.get(f"leakage.node{j}.input_privacy") for j in range(k)]
        pooled = d.get(f"leakage.collusion_{k}_of_{k}.input_privacy")
        if all(v is None for v in scores) and pooled is None:
            privacy = "not run (harness.leakage=false)"
        else:
            single = min(float("nan") if v is None else float(v) for v in scores)
            privacy = f"{single:.2f} / {fmt(pooled, '.2f')}"
        print(head + " " + " | ".join([
            f"{d['slowdown']:.1f}x" if d.get("slowdown") is not None else "-",
            f"{fmt(d.get('latency_p50_s'))} ({fmt(d.get('plaintext_latency_p50_s'))})",
            megabytes(wire_bytes(d)), fmt(d.get("rounds_per_inference")),
            f"{100 * float(d.get('client_flops_fraction') or 0):.1f}%",
            f"{100 * float(d.get('client_time_fraction') or 0):.0f}%",
            fmt(d.get("fidelity_agreement"), ".2f"),
            privacy, fmt(d.get("cpu_load_1m"), ".1f")]) + " |")
    print()
    print(CRYPTEN)


def main(folder: str, experiment: str | None = None, readme: bool = False) -> None:
    recs = load(folder, experiment)
    if readme:
        readme_table(recs)
        return
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default="results/runs", help="a folder of run records (*.json)")
    ap.add_argument("--experiment", help="only records of this experiment (e.g. hybrid_nodes)")
    ap.add_argument("--readme", action="store_true", help="the README's HSS table instead of the full ones")
    args = ap.parse_args()
    main(args.folder, args.experiment, args.readme)
