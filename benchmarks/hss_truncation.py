"""Error of the dealer-pair truncation (nesabench.hybrid.shares) for k = 2, 3, 5 parties.

Shares of x * 2^32 are truncated by 16 bits and compared with the exact floor; the error is
counted per element (wraps of x + r mod 2^64 are corrected from msb(r)).
Writes results/benchmarks/hss_truncation.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nesabench.hybrid import ring
from nesabench.hybrid import shares as S

FRAC_BITS, BOUND_BITS, N = 16, 46, 200_000


def errors(parties: int) -> dict[str, int]:
    gen = ring.csprng()
    x = torch.randn(N, dtype=torch.float64) * 100
    xs = S.share(ring.encode(x, 2 * FRAC_BITS), parties, gen)
    pairs = S.deal_trunc_pairs(tuple(x.shape), FRAC_BITS, parties, gen)
    masked = [S.trunc_masked(s, p, i, BOUND_BITS) for i, (s, p) in enumerate(zip(xs, pairs, strict=True))]
    c = S.reconstruct(masked)
    out = S.reconstruct([S.trunc_finish(c, p, i, FRAC_BITS, BOUND_BITS) for i, p in enumerate(pairs)])
    err = out - (ring.encode(x, 2 * FRAC_BITS) >> FRAC_BITS)
    return {str(int(v)): int((err == v).sum()) for v in err.unique()}


if __name__ == "__main__":
    result = {"elements": N, "frac_bits": FRAC_BITS, "bound_bits": BOUND_BITS,
              "opening": "c = x + 2^bound + r, r uniform over Z_2^64: uniform, independent of x",
              "error_counts_in_ulp": {str(k): errors(k) for k in (2, 3, 5)}}
    dst = Path(__file__).resolve().parents[1] / "results/benchmarks/hss_truncation.json"
    dst.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
