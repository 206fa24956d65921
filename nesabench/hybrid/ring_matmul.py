"""Exact X @ W^T mod 2^64 for a public fixed-point weight, through float64 BLAS.

torch's int64 matmul has no BLAS path; a node's linear layer is a ring share (uniform over Z_2^64)
times a small-integer weight. Split each share element into two signed 32-bit limbs,
x = hi * 2^32 + lo (mod 2^64) with |hi|, |lo| <= 2^31, stack the limbs as rows and multiply by the
weight in float64: every partial sum of a limb row times a weight column is an integer of magnitude
at most 2^31 * sum_i |w_ij|, exact in float64 while that is <= 2^53, i.e. the column's sum of |w|
is <= 2^22. Where a layer's column sums exceed that, its inner dimension is cut into chunks that
each stay within it (the chunk products are added in int64). The two limb products are recombined
with wrapping int64 shifts: the result equals the int64 product bit for bit (``tests/
test_hybrid_hss_ring_matmul.py``). A weight with a single element too large for any chunk falls
back to the int64 matmul.
"""

from __future__ import annotations

import torch

#: float64 represents every integer of magnitude <= 2^53 exactly.
EXACT_FLOAT_BITS = 53
#: Limb width: a share is split into two signed limbs of this many bits.
LIMB_BITS = 32
#: Largest column sum of |w| a chunk may have: 2^(LIMB_BITS - 1) * limit <= 2^53.
SUM_LIMIT = 2 ** (EXACT_FLOAT_BITS - (LIMB_BITS - 1))


def chunk_bounds(weight_t: torch.Tensor, limit: float = SUM_LIMIT) -> list[tuple[int, int]] | None:
    """Row ranges of W^T (the inner dimension) whose every column sum of |w| is <= ``limit``,
    greedily as long as possible; None if one row alone exceeds it."""
    absw = weight_t.abs().double()
    k = absw.shape[0]
    cum = torch.cat([torch.zeros(1, absw.shape[1], dtype=torch.float64), absw.cumsum(0)])
    out, a = [], 0
    while a < k:
        # largest column sum of rows a..b-1 for every b > a (non-decreasing in b)
        reach = (cum[a + 1:] - cum[a]).amax(1)
        b = a + int(torch.searchsorted(reach, torch.tensor([limit], dtype=torch.float64), right=True))
        if b == a:
            return None
        out.append((a, b))
        a = b
    return out


class RingMatmul:
    """x @ W^T mod 2^64 for int64 ring elements x (..., in) and a fixed int64 W^T (in, out)."""

    def __init__(self, weight_t: torch.Tensor, limit: float = SUM_LIMIT):
        self.chunks = chunk_bounds(weight_t, limit)
        if self.chunks is None:
            self.weight_t = weight_t.contiguous()
            self.parts: list[torch.Tensor] = []
        else:
            self.weight_t = None
            self.parts = [weight_t[a:b].double().contiguous() for a, b in self.chunks]

    @property
    def uses_blas(self) -> bool:
        return self.chunks is not None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight_t is not None:
            return x @ self.weight_t
        lead = x.shape[:-1]
        flat = x.reshape(-1, x.shape[-1])
        m = flat.shape[0]
        lo = (flat * (1 << LIMB_BITS)) >> LIMB_BITS  # low limb, sign-extended: [-2^31, 2^31)
        hi = (flat - lo) >> LIMB_BITS  # (x - lo) is a multiple of 2^32 (mod 2^64): [-2^31, 2^31)
        limbs = torch.cat([hi, lo]).double()
        acc = None
        for (a, b), w in zip(self.chunks, self.parts, strict=True):
            p = (limbs[:, a:b] @ w).long()
            acc = p if acc is None else acc + p
        assert acc is not None
        out = acc[:m] * (1 << LIMB_BITS) + acc[m:]  # wrapping int64 arithmetic
        return out.reshape(*lead, out.shape[-1])
