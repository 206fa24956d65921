"""Additive secret shares over Z_2^64, Beaver triples and truncation pairs from a dealer.

Sharing: x = s_0 + ... + s_{k-1} mod 2^64 with s_1..s_{k-1} uniform (CSPRNG), so any k-1 shares are
independent of x. The dealer (the client) makes correlated randomness ahead of the online phase:

- Beaver triples (A, B, C = A @ B) for products of two shared tensors: the parties open
  E = X - A and F = Y - B, then Z_i = E @ B_i + A_i @ F + C_i (+ E @ F for party 0) = X @ Y.
- Truncation triples (r, r >> f, msb(r)) with r uniform over all of Z_2^64: to drop f fractional
  bits of a shared x with |x| < 2^bound_bits, party 0 adds the public offset 2^bound_bits (so
  x' = x + 2^bound_bits is in [0, 2^63)), the parties open c = x' + r mod 2^64 to each other, which
  is uniform and independent of x (perfect hiding), and take
  (c >>> f) - (r >>> f) + wrap * 2^(64 - f) - 2^(bound_bits - f), where >>> is the logical shift and
  wrap = msb(r) AND NOT msb(c) says whether x' + r wrapped (exact: x' < 2^63). The result is
  floor(x / 2^f) or one unit more (the carry out of the dropped low bits), for any number of parties.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nesabench.hybrid import ring


def share(x: torch.Tensor, parties: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Split ring elements into ``parties`` additive shares (the last one absorbs x)."""
    if parties < 2:
        raise ValueError(f"secret sharing needs at least 2 parties, got {parties}")
    masks = [ring.uniform(x.shape, gen) for _ in range(parties - 1)]
    last = x.clone()
    for m in masks:
        last = last - m
    return [*masks, last]


def reconstruct(shares: list[torch.Tensor]) -> torch.Tensor:
    total = torch.zeros_like(shares[0])
    for s in shares:
        total = total + s
    return total


@dataclass
class Triple:
    """One party's share of a Beaver triple for ``a @ b``."""

    a: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor


def deal_triples(a_shape: tuple[int, ...], b_shape: tuple[int, ...], parties: int,
                 gen: torch.Generator) -> list[Triple]:
    """Dealer side: uniform A, B and C = A @ B (mod 2^64), each split into shares."""
    a, b = ring.uniform(a_shape, gen), ring.uniform(b_shape, gen)
    c = a @ b
    return [Triple(*t) for t in zip(share(a, parties, gen), share(b, parties, gen), share(c, parties, gen),
                                    strict=True)]


def beaver_masked(x: torch.Tensor, y: torch.Tensor, t: Triple) -> tuple[torch.Tensor, torch.Tensor]:
    """This party's shares of E = X - A and F = Y - B, to be opened."""
    return x - t.a, y - t.b


def beaver_product(e: torch.Tensor, f: torch.Tensor, t: Triple, party: int) -> torch.Tensor:
    """This party's share of X @ Y from the opened E, F (party 0 adds E @ F)."""
    z = e @ t.b + t.a @ f + t.c
    return z + e @ f if party == 0 else z


@dataclass
class TruncPair:
    """One party's share of a truncation triple: r, r >>> f (logical) and the top bit of r."""

    r: torch.Tensor
    r_high: torch.Tensor
    r_msb: torch.Tensor


def logical_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """x >>> bits on ring elements read as unsigned (torch's >> on int64 is arithmetic)."""
    return (x >> bits) & ((1 << (ring.RING_BITS - bits)) - 1)


def deal_trunc_pairs(shape: tuple[int, ...], frac_bits: int, parties: int,
                     gen: torch.Generator) -> list[TruncPair]:
    r = ring.uniform(shape, gen)
    msb = (r < 0).long()
    parts = zip(share(r, parties, gen), share(logical_shift(r, frac_bits), parties, gen),
                share(msb, parties, gen), strict=True)
    return [TruncPair(*p) for p in parts]


def trunc_masked(x: torch.Tensor, p: TruncPair, party: int, bound_bits: int) -> torch.Tensor:
    """This party's share of c = x + 2^bound_bits + r, opened to every party (uniform)."""
    return x + p.r + (1 << bound_bits) if party == 0 else x + p.r


def trunc_finish(c: torch.Tensor, p: TruncPair, party: int, frac_bits: int, bound_bits: int) -> torch.Tensor:
    """This party's share of x >> frac_bits from the opened c."""
    wrap = p.r_msb * (c >= 0).long() << (ring.RING_BITS - frac_bits)  # msb(r) and not msb(c)
    if party != 0:
        return wrap - p.r_high
    return logical_shift(c, frac_bits) + wrap - p.r_high - (1 << (bound_bits - frac_bits))


def check_bound(bound_bits: int, frac_bits: int) -> None:
    if not frac_bits < bound_bits <= ring.RING_BITS - 2:
        raise ValueError(f"truncation bound_bits must be in ({frac_bits}, {ring.RING_BITS - 2}], "
                         f"got {bound_bits}")
