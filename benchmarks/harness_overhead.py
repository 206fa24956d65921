"""How much the harness's own bookkeeping adds to a measured latency.

Compares, on the plaintext mlp_cancer model (the fastest call we time, ~20 us, so the worst case
for relative overhead), the harness's per-call timing loop with a bare loop that only calls the
model and reads the clock once at each end. Trials alternate so drift hits both alike.

    .venv/bin/python benchmarks/harness_overhead.py [--calls 2000] [--trials 15]

Writes results/benchmarks/harness_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from hydra import compose, initialize_config_dir

from nesabench.atomic import atomic_write_text
from nesabench.cli import CONF_DIR
from nesabench.harness.runner import batches_of
from nesabench.harness.timing import time_calls
from nesabench.workloads.workload import load_workload


def bare_loop(fn, batches, calls: int) -> float:
    n = len(batches)
    with torch.no_grad():
        t0 = time.perf_counter()
        for i in range(calls):
            fn(batches[i % n])
        return (time.perf_counter() - t0) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--out", default="results/benchmarks/harness_overhead.json")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["workload=mlp_cancer"])
    workload = load_workload(cfg.workload, cfg.seed, cfg.paths.cache_dir)
    model = workload.model.eval()
    batches = batches_of(workload.dataset.x_test[:64], 1)
    bare_loop(model, batches, args.calls)  # warm-up
    bare, harness_mean, harness_p50 = [], [], []
    for _ in range(args.trials):
        bare.append(bare_loop(model, batches, args.calls))
        t = time_calls(model, batches, warmup=5, repeats=args.calls)
        harness_mean.append(statistics.fmean(t))
        harness_p50.append(statistics.median(t))
    result = {
        "workload": "mlp_cancer", "calls_per_trial": args.calls, "trials": args.trials,
        "bare_mean_s": statistics.median(bare),
        "harness_mean_s": statistics.median(harness_mean),
        "harness_p50_s": statistics.median(harness_p50),
    }
    result["overhead_mean"] = result["harness_mean_s"] / result["bare_mean_s"] - 1
    result["overhead_p50"] = result["harness_p50_s"] / result["bare_mean_s"] - 1
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
