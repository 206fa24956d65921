"""The float64-limb ring matmul equals torch's int64 matmul bit for bit (mod 2^64), including on the
layers that need their inner dimension cut into chunks, and the test catches an inexact variant."""

from __future__ import annotations

import itertools

import pytest
import torch

from nesabench.hybrid import ring
from nesabench.hybrid.ring_matmul import SUM_LIMIT, RingMatmul, chunk_bounds


def weights(k: int, n: int, bits: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(-(2**bits), 2**bits, (k, n), generator=gen, dtype=torch.int64)


@pytest.mark.parametrize(("k", "n", "bits", "lead"), [
    (384, 96, 12, (16,)),      # one chunk (column sums < 2^22)
    (1536, 64, 15, (2, 16)),   # minilm ff2-like: several chunks, batched rows
    (30, 16, 17, (5,)),        # tiny layer, large weights
])
def test_blas_path_is_bit_exact(k, n, bits, lead):
    gen = ring.csprng()
    w_t = weights(k, n, bits, gen)
    x = ring.uniform((*lead, k), gen)  # shares: uniform over all of Z_2^64, extremes included
    x.view(-1)[:4] = torch.tensor([-(2**63), 2**63 - 1, -1, 2**31], dtype=torch.int64)
    mm = RingMatmul(w_t)
    assert mm.uses_blas
    for a, b in mm.chunks:
        assert float(w_t[a:b].abs().sum(0).max()) <= SUM_LIMIT
    assert torch.equal(mm(x), x @ w_t)


def test_several_chunks_are_used_when_column_sums_exceed_the_bound():
    gen = ring.csprng()
    w_t = weights(1536, 32, 15, gen)  # column sums ~ 1536 * 2^14 ~ 2^24.6 > 2^22
    bounds = chunk_bounds(w_t)
    assert bounds is not None and len(bounds) > 1
    assert bounds[0][0] == 0 and bounds[-1][1] == 1536
    assert all(b0[1] == b1[0] for b0, b1 in itertools.pairwise(bounds))


def test_the_check_can_fail_an_inexact_product():
    """Ignoring the 2^53 bound (one chunk for a wide layer) rounds partial sums: the comparison
    against the int64 product must see it."""
    gen = ring.csprng()
    w_t = weights(1536, 32, 18, gen)
    x = ring.uniform((16, 1536), gen)
    loose = RingMatmul(w_t, limit=float("inf"))
    assert loose.chunks == [(0, 1536)]
    assert not torch.equal(loose(x), x @ w_t)
    assert torch.equal(RingMatmul(w_t)(x), x @ w_t)


def test_a_weight_too_large_for_any_chunk_falls_back_to_int64():
    gen = ring.csprng()
    w_t = weights(8, 4, 10, gen)
    w_t[3, 2] = 2**40
    mm = RingMatmul(w_t)
    assert not mm.uses_blas
    x = ring.uniform((3, 8), gen)
    assert torch.equal(mm(x), x @ w_t)
