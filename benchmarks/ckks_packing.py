"""What packing several samples into one CKKS ciphertext buys, per sample.

For each workload, on the same prepared CKKS pipeline (same keys, same polynomial model):
  - one sample per ciphertext: ``samples_per_ciphertext=1``, each sample its own encrypt/eval/decrypt;
  - packed: a full ciphertext (``capacity`` samples) per call;
  - for mlp_cancer the single-sample path is TenSEAL's tutorial one (``ckks_vector`` + ``mm`` +
    square + ``mm``); the packed encoding with a one-row matrix is timed too, for comparison.
Latencies are medians over ``--repeats`` client-side calls (encrypt + node evaluation + decrypt).

    .venv/bin/python benchmarks/ckks_packing.py [--workloads mlp_cancer cnn_digits] [--repeats 3]

Writes results/benchmarks/ckks_packing.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from baselines.he_ckks import CallStats, CKKSPipeline
from nesabench.atomic import atomic_write_text
from nesabench.cli import CONF_DIR
from nesabench.he.circuit import MLPCircuit
from nesabench.workloads.workload import load_workload


def median_call(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one_row_matrix(pipe: CKKSPipeline, x: np.ndarray) -> int:
    """One sample through the packed encoding (a one-row encrypted matrix); returns bytes up."""
    if pipe.client is None or pipe.node is None or pipe.circuit is None:
        raise RuntimeError("one_row_matrix needs a prepared CKKS pipeline")
    blob = pipe._encrypt(x)
    pipe.client.decrypt(pipe.node.evaluate(blob, 1), 1, pipe.circuit.num_outputs)
    return len(blob)


def bench(name: str, repeats: int) -> dict[str, float | int | str]:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"workload={name}", "technique=he_ckks"])
    workload = load_workload(cfg.workload, cfg.seed, cfg.paths.cache_dir)
    pipe = CKKSPipeline()
    pipe.prepare(workload)
    capacity = pipe.capacity
    x = workload.dataset.x_test[:capacity]
    with torch.no_grad():
        pipe.infer(x[:1])  # warm-up
        pipe._stats = CallStats()
        packed = median_call(lambda: pipe.infer(x), repeats)
        packed_up_per_sample = pipe._stats.bytes_up / max(pipe._stats.samples, 1)
        pipe.capacity = 1
        pipe._stats.bytes_up = pipe._stats.calls = 0
        single = median_call(lambda: pipe.infer(x[:1]), repeats)
        single_up = pipe._stats.bytes_up // max(pipe._stats.calls, 1)
    result: dict[str, float | int | str] = {
        "workload": name, "repeats": repeats, "poly_modulus_degree": pipe.params.poly_modulus_degree,
        "coeff_mod_bit_sizes": str(list(pipe.params.coeff_mod_bit_sizes)), "capacity": capacity,
        "single_latency_per_sample_s": single, "single_bytes_up_per_sample": single_up,
        "packed_batch_latency_s": packed, "packed_latency_per_sample_s": packed / capacity,
        "packed_bytes_up_per_sample": packed_up_per_sample,
        "amortized_gain": single / (packed / capacity),
    }
    if isinstance(pipe.circuit, MLPCircuit):
        # The pipeline sends a lone MLP sample by TenSEAL's vector + mm path; this is the alternative.
        sample = x[:1].double().numpy()
        result["one_row_matrix_latency_per_sample_s"] = median_call(lambda: one_row_matrix(pipe, sample),
                                                                    repeats)
        result["one_row_matrix_bytes_up"] = one_row_matrix(pipe, sample)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["mlp_cancer", "cnn_digits"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="results/benchmarks/ckks_packing.json")
    args = parser.parse_args()
    results = [bench(name, args.repeats) for name in args.workloads]
    atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
