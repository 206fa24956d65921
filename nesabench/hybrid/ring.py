"""The ring Z_2^64 in fixed point: encode/decode, uniform masks, exact linear maps.

Ring elements are torch int64 tensors; addition and multiplication wrap mod 2^64 (two's
complement), so the ring arithmetic is plain tensor arithmetic. A real number v is stored as
round(v * 2^f) with f fractional bits; the product of two encoded values carries 2f fractional bits
and must be truncated (see ``shares.truncate``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import torch

RING_BITS = 64
#: Limb width for exact linear maps that torch only offers in floating point (conv2d, pooling).
LIMB_BITS = 16
#: float64 represents every integer below 2^53 exactly.
EXACT_FLOAT_BITS = 53


def encode(x: torch.Tensor, frac_bits: int) -> torch.Tensor:
    """Real tensor -> ring elements with ``frac_bits`` fractional bits (round to nearest)."""
    return torch.round(x.double() * float(2**frac_bits)).long()


def decode(x: torch.Tensor, frac_bits: int) -> torch.Tensor:
    """Ring elements (read as signed) -> float64 reals."""
    return x.double() / float(2**frac_bits)


def csprng() -> torch.Generator:
    """A torch generator seeded from the OS CSPRNG (never from the experiment seed)."""
    return torch.Generator().manual_seed(secrets.randbits(63))


def uniform(shape: tuple[int, ...] | torch.Size, gen: torch.Generator) -> torch.Tensor:
    """Uniform elements of Z_2^64: two independent 32-bit halves from ``gen``."""
    hi = torch.randint(0, 2**32, tuple(shape), generator=gen, dtype=torch.int64)
    lo = torch.randint(0, 2**32, tuple(shape), generator=gen, dtype=torch.int64)
    return (hi << 32) | lo


def limbs(x: torch.Tensor) -> list[torch.Tensor]:
    """Split ring elements into 64/LIMB_BITS unsigned limbs as float64 (exact)."""
    mask = (1 << LIMB_BITS) - 1
    return [((x >> (LIMB_BITS * i)) & mask).double() for i in range(RING_BITS // LIMB_BITS)]


def linear_map(x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor],
               weight_bound: float) -> torch.Tensor:
    """fn(x) mod 2^64 for a linear ``fn`` with integer coefficients, through float64 limbs.

    Each 16-bit limb goes through ``fn`` in float64; exact as long as every partial sum stays
    below 2^53, which ``weight_bound`` (sum of |coefficients| feeding one output) must guarantee.
    The limb results are recombined with wrapping int64 shifts.
    """
    if weight_bound * 2**LIMB_BITS >= 2**EXACT_FLOAT_BITS:
        raise ValueError(f"linear map too wide for exact float64 limbs: bound {weight_bound:.3g} * 2^16 "
                         f">= 2^53; use fewer fractional bits")
    parts = limbs(x)
    stacked = fn(torch.cat(parts, 0))
    out = torch.zeros_like(stacked[: len(x)], dtype=torch.int64)
    for i, p in enumerate(stacked.chunk(len(parts), 0)):
        out = out + (torch.round(p).long() << (LIMB_BITS * i))
    return out
