"""Modeled cost per generated token of nesa_hss on Llama-3.2-1B shapes (an estimate, not a run).

Inputs, all measured: the protocol's per-layer traffic and rounds from a nesa_hss minilm record
(bytes and rounds per inference, divided per layer and per token), and this machine's int64
matmul-vector throughput at Llama-3.2-1B layer shapes (one thread). The model then counts, for
one decoded token (KV cache, context length L), the elements each communication step moves in
the same protocol (non-linear steps opened to the client, Beaver openings, truncations), and
adds bandwidth time, one-way latency per round and node compute, for two links.

    python benchmarks/hss_at_scale.py /path/to/minilm_nesa_hss_record.json
writes results/benchmarks/hss_at_scale.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

#: Llama-3.2-1B (config.json of meta-llama/Llama-3.2-1B).
LLAMA = {"layers": 16, "hidden": 2048, "intermediate": 8192, "heads": 32, "kv_heads": 8, "head_dim": 64,
         "vocab": 128256}
#: MiniLM-L6 shapes the record was measured on.
MINILM = {"layers": 6, "hidden": 384, "intermediate": 1536, "heads": 12, "tokens": 16}
#: Links: (name, bandwidth bytes/s, round-trip seconds).
LINKS = [("same datacenter (10 Gbit/s, RTT 0.5 ms)", 10e9 / 8, 0.5e-3),
         ("across continents (1 Gbit/s, RTT 150 ms)", 1e9 / 8, 150e-3)]
CONTEXT = 512
RING_BYTES = 8


def opened_elements(hidden: int, inter: int, heads: int, kv: int, head_dim: int, tokens: int, ctx: int,
                    nodes: int) -> dict[str, float]:
    """Ring elements on the wire per layer in client mode, for ``tokens`` new tokens over ``ctx``.

    Non-linear steps (two norms, the MLP activation, softmax) go nodes -> client -> nodes; Beaver
    openings of Q, K, P, V go from every node to every other (K/V masks of cached rows are reused,
    so only new rows are opened); truncations of Q, K, V and PV go to node0.
    """
    q, k = heads * head_dim, kv * head_dim
    nonlinear = (2 * hidden + inter) * tokens + heads * tokens * ctx
    beaver = nodes * (nodes - 1) * (q * tokens + k * tokens + heads * tokens * ctx + k * tokens)
    trunc = (nodes - 1) * (q + 2 * k + q) * tokens
    return {"client": 2 * nodes * nonlinear, "beaver": beaver, "trunc": trunc}


def int64_gemv_s(rows: int, cols: int, reps: int = 5) -> tuple[float, float]:
    """Seconds for x(1 x rows) @ W(rows x cols) in int64 and in float32 (one thread)."""
    torch.set_num_threads(1)
    x = torch.randint(-2**62, 2**62, (1, rows))
    w = torch.randint(-2**20, 2**20, (rows, cols))
    t0 = time.perf_counter()
    for _ in range(reps):
        x @ w
    ti = (time.perf_counter() - t0) / reps
    xf, wf = x.float(), w.float()
    t0 = time.perf_counter()
    for _ in range(reps):
        xf @ wf
    return ti, (time.perf_counter() - t0) / reps


def linear_paths_s(rows: int = 16, inner: int = 384, cols: int = 1536, reps: int = 10) -> dict[str, float]:
    """A linear layer on ring elements three ways (one thread): int64 matmul on W^T laid out
    contiguously, on a strided W.T view, and four 16-bit limbs through float64 matmuls."""
    from nesabench.hybrid import ring

    torch.set_num_threads(1)
    x = torch.randint(-2**62, 2**62, (rows, inner))
    w = torch.randint(-2**20, 2**20, (cols, inner))
    wt, wd = w.T.contiguous(), w.T.contiguous().double()
    paths = {"int64_contiguous": lambda: x @ wt, "int64_strided": lambda: x @ w.T,
             "float64_limbs": lambda: ring.linear_map(x, lambda t: t @ wd, float(w.abs().sum(1).max())),
             "float32_plaintext": lambda: x.float() @ wt.float()}
    assert torch.equal(paths["int64_contiguous"](), paths["float64_limbs"]())
    out = {}
    for name, fn in paths.items():
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        out[name] = (time.perf_counter() - t0) / reps
    return out


def main(record_path: str) -> dict:
    rec = json.loads(Path(record_path).read_text())
    d = {**rec, **rec.get("extra", {})}
    nodes = int(d["nodes"])
    m = MINILM
    model = opened_elements(m["hidden"], m["intermediate"], m["heads"], m["heads"], m["hidden"] // m["heads"],
                            m["tokens"], m["tokens"], nodes)
    modeled_minilm = sum(model.values()) * RING_BYTES * m["layers"]
    # Every byte once: what each party sent (records before the metric fix double-counted replies).
    measured = float(d["bytes_sent.client"]) + sum(float(d[f"bytes_sent.node{j}"]) for j in range(nodes))
    rounds_per_layer = (float(d["rounds_per_inference"]) - 2) / m["layers"]
    # Node compute at Llama shapes: q, o (h x h), k, v (h x kv), gate, up (h x i), down (i x h).
    h, i, kv = LLAMA["hidden"], LLAMA["intermediate"], LLAMA["kv_heads"] * LLAMA["head_dim"]
    shapes = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]
    lin_int = lin_f32 = 0.0
    for rows, cols in shapes:
        a, b = int64_gemv_s(rows, cols)
        lin_int, lin_f32 = lin_int + a, lin_f32 + b
    llama = opened_elements(h, i, LLAMA["heads"], LLAMA["kv_heads"], LLAMA["head_dim"], 1, CONTEXT, nodes)
    bytes_token = sum(llama.values()) * RING_BYTES * LLAMA["layers"] * measured / modeled_minilm
    rounds_token = rounds_per_layer * LLAMA["layers"] + 2
    compute_token = lin_int * LLAMA["layers"]
    out = {
        "estimate": True,
        "source_record": Path(record_path).name,
        "nodes": nodes,
        "context": CONTEXT,
        "minilm_bytes_measured": measured,
        "minilm_bytes_modeled": modeled_minilm,
        "calibration": measured / modeled_minilm,
        "rounds_per_layer_measured": rounds_per_layer,
        "llama_bytes_per_token": bytes_token,
        "llama_rounds_per_token": rounds_token,
        "llama_node_compute_s_per_token_int64": compute_token,
        "llama_plaintext_compute_s_per_token_f32": lin_f32 * LLAMA["layers"],
        "links": {},
        "linear_paths_s_16x384x1536": linear_paths_s(),
    }
    for name, bw, rtt in LINKS:
        wire = bytes_token / bw
        latency = rounds_token * rtt / 2
        out["links"][name] = {"wire_s": wire, "latency_s": latency, "compute_s": compute_token,
                              "total_s_per_token": wire + latency + compute_token}
    return out


if __name__ == "__main__":
    result = main(sys.argv[1])
    dst = Path(__file__).resolve().parents[1] / "results/benchmarks/hss_at_scale.json"
    dst.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
