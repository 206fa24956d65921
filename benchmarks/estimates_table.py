"""Estimate vs measurement for every estimator on every measured cell, from run records.

Each HE/ZK technique that can run a workload also runs the estimator it uses where it cannot
(``check_estimate``) and records ``estimate_ratio`` = estimate / measured. This prints the markdown
table docs/estimates.md holds, from the records under RESULTS_DIR/runs:

    .venv/bin/python benchmarks/estimates_table.py RESULTS_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nesabench.estimates import estimate_mark  # noqa: E402
from nesabench.records import read_records  # noqa: E402

#: technique -> (what the estimator prices, the measured key it is compared with)
MEASURED = {
    "he_ckks": ("latency per sample, one sample per call", "encrypt + node eval + decrypt per sample"),
    "he_tfhe": ("node run time per sample", "node_eval_s_per_sample"),
    "zk_ezkl": ("ezkl.prove call per proof", "prove_call_s"),
}
FACTOR = 3.0


def rows(results_dir: Path) -> list[str]:
    out = ["| technique | workload | estimate | measured | estimate / measured | within 3x | method |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    records = read_records(results_dir / "runs")
    for r in sorted(records, key=lambda r: (r.get("technique"), r.get("workload"))):
        ratio = r.get("estimate_ratio")
        if r.get("status") != "ok" or ratio is None:
            continue
        est = r.get("estimate_latency_s") or r.get("estimate_prove_s")
        measured = est / ratio
        ok = 1 / FACTOR <= ratio <= FACTOR
        mark = estimate_mark(r.get("estimate_kind"))
        out.append(f"| {r['technique']} | {r['workload']} | {mark}{est:.3g} s "
                   f"| {measured:.3g} s ({MEASURED[r['technique']][1]}) | {ratio:.2f} "
                   f"| {'yes' if ok else 'NO'} | {r.get('estimate_method', '')} |")
    return out


if __name__ == "__main__":
    print("\n".join(rows(Path(sys.argv[1]))))
