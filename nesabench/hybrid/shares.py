"""Additive secret shares over Z_2^64, Beaver triples and truncation pairs from a dealer.

Sharing: x = s_0 + ... + s_{k-1} mod 2^64 with s_1..s_{k-1} uniform (CSPRNG), so any k-1 shares are
independent of x. The dealer (the client) makes correlated randomness ahead of the online phase:

- Beaver triples (A, B, C = A @ B) for products of two shared tensors: the parties open
  E = X - A and F = Y - B, then Z_i = E @ B_i + A_i @ F + C_i (+ E @ F for party 0) = X @ Y.
- Truncation pairs (r, r >> f) with r uniform in [0, 2^62): to drop f fractional bits of a shared x
  with |x| < 2^bound_bits, party 0 adds the public offset 2^bound_bits, the parties open
  c = x + 2^bound_bits + r (which never wraps mod 2^64, so this is exact for any number of parties
  up to one unit in the last place), and take (c >> f) - (r >> f) - 2^(bound_bits - f).
  The opened c hides x statistically: its distance from uniform-independent-of-x is at most
  2^(bound_bits + 1 - 62) per element.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nesabench.hybrid import ring

#: Width of the truncation mask r (r < 2^TRUNC_MASK_BITS; x + offset + r < 2^63 never wraps).
TRUNC_MASK_BITS = 62


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
    """One party's share of a truncation pair: r and r >> f."""

    r: torch.Tensor
    r_high: torch.Tensor


def deal_trunc_pairs(shape: tuple[int, ...], frac_bits: int, parties: int,
                     gen: torch.Generator) -> list[TruncPair]:
    r = ring.uniform(shape, gen) & ((1 << TRUNC_MASK_BITS) - 1)
    pairs = zip(share(r, parties, gen), share(r >> frac_bits, parties, gen), strict=True)
    return [TruncPair(*p) for p in pairs]


def trunc_masked(x: torch.Tensor, p: TruncPair, party: int, bound_bits: int) -> torch.Tensor:
    """This party's share of c = x + 2^bound_bits + r, to be opened to party 0."""
    return x + p.r + (1 << bound_bits) if party == 0 else x + p.r


def trunc_finish(c: torch.Tensor | None, p: TruncPair, party: int, frac_bits: int,
                 bound_bits: int) -> torch.Tensor:
    """This party's share of x >> frac_bits; party 0 holds the opened c."""
    if party != 0:
        return -p.r_high
    if c is None:
        raise ValueError("party 0 needs the opened value to finish a truncation")
    return (c >> frac_bits) - p.r_high - (1 << (bound_bits - frac_bits))


def check_bound(bound_bits: int, frac_bits: int) -> None:
    if not frac_bits < bound_bits <= TRUNC_MASK_BITS - 1:
        raise ValueError(f"truncation bound_bits must be in ({frac_bits}, {TRUNC_MASK_BITS - 1}], "
                         f"got {bound_bits}")
