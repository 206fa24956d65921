"""The equivariant-encryption key: which parts are permuted, and the secret permutations themselves.

Every permutation comes from a ``torch.Generator`` seeded from ``secrets`` (a CSPRNG), never from
the experiment seed, and the key never prints its material: ``repr`` and ``describe`` name only
which parts are on and whether they are fixed across queries or fresh per query.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import torch

#: Key parts, each ``fixed | per_query | off``.
PARTS = ("vocab", "hidden", "intermediate", "heads", "within_head", "channels", "classes", "tokens")
MODES = ("fixed", "per_query", "off")

#: Hardening presets (issue 11): (a) vocabulary only, (b) + hidden/intermediate/head permutations
#: with a fixed key, (c) + a fresh token order per query, (d) a fresh hidden key per query (weights
#: re-folded and re-sent every query), (e) (b) plus an orthogonal rotation of the residual stream.
_B = {"vocab": "fixed", "hidden": "fixed", "intermediate": "fixed", "heads": "fixed",
      "within_head": "fixed", "channels": "fixed", "classes": "fixed", "tokens": "off"}
VARIANTS: dict[str, dict[str, str]] = {
    "a": {p: ("fixed" if p == "vocab" else "off") for p in PARTS},
    "b": dict(_B),
    "c": {**_B, "tokens": "per_query"},
    "d": {**_B, "hidden": "per_query", "intermediate": "per_query", "heads": "per_query",
          "within_head": "per_query", "channels": "per_query", "classes": "per_query"},
    "e": dict(_B),
}
#: Variants whose residual stream is rotated by a secret orthogonal matrix (not only permuted).
ROTATING_VARIANTS = ("e",)


def parts_for(variant: str | None, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Part modes of a variant preset, with per-part overrides applied; bad names fail clearly."""
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"unknown EE variant {variant!r}; accepted: {', '.join(VARIANTS)}")
    parts = dict(VARIANTS[variant or "b"])
    for name, mode in (overrides or {}).items():
        if name not in PARTS:
            raise ValueError(f"unknown EE key part {name!r}; accepted: {', '.join(PARTS)}")
        if mode not in MODES:
            raise ValueError(f"key.{name} must be one of {', '.join(MODES)}, got {mode!r}")
        parts[name] = mode
    return parts


@dataclass
class EEKey:
    """Secret permutations (and, for rotating variants, an orthogonal matrix) drawn on demand.

    Permutations are named (``"hidden"``, ``"block0.intermediate"``, ``"fx.space3"``...) and belong
    to a part; a part that is off gives the identity (``None``). ``refresh()`` redraws every part
    that is ``per_query``. ``encrypt_model`` writes into ``layout`` how the client must transform
    inputs and outputs for the model it folded (names of permutations, never their values).
    """

    parts: dict[str, str]
    rotate: bool = False
    special_tokens: tuple[int, ...] = ()
    _perms: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _owner: dict[str, str] = field(default_factory=dict, repr=False)
    _rotations: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _gen: torch.Generator = field(default_factory=torch.Generator, repr=False)
    layout: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Tables the client keeps to transform inputs itself (its folded embedding table).
    client_tables: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._gen.manual_seed(secrets.randbits(63))

    def __repr__(self) -> str:
        return f"EEKey({self.describe()})"

    def mode(self, part: str) -> str:
        return self.parts.get(part, "off")

    def on(self, part: str) -> bool:
        return self.mode(part) != "off"

    def perm(self, name: str, n: int, part: str, fixed_ids: tuple[int, ...] = ()) -> torch.Tensor | None:
        """Permutation ``name`` of ``n`` items (None when ``part`` is off); ``fixed_ids`` stay in place.

        Convention: a permuted tensor is ``x[..., perm]`` (its coordinate j holds original perm[j]).
        """
        if not self.on(part):
            return None
        p = self._perms.get(name)
        if p is None or len(p) != n:
            p = torch.randperm(n, generator=self._gen)
            if fixed_ids:
                keep = torch.tensor(sorted(i for i in fixed_ids if 0 <= i < n), dtype=torch.long)
                free = torch.ones(n, dtype=torch.bool)
                free[keep] = False
                movable = torch.nonzero(free).squeeze(1)
                p = torch.arange(n)
                p[movable] = movable[torch.randperm(len(movable), generator=self._gen)]
            self._perms[name] = p
            self._owner[name] = part
        return p

    def rotation(self, name: str, n: int) -> torch.Tensor:
        """A Haar-random orthogonal (n, n) matrix in float64 (QR of a Gaussian with sign fix)."""
        q = self._rotations.get(name)
        if q is None or q.shape[0] != n:
            g = torch.randn(n, n, generator=self._gen, dtype=torch.float64)
            q, r = torch.linalg.qr(g)
            q = q * torch.sign(torch.diagonal(r))[None, :]
            self._rotations[name] = q
        return q

    def refresh(self) -> None:
        """Forget every per-query permutation, so the next use draws a fresh one."""
        for name in [n for n, part in self._owner.items() if self.mode(part) == "per_query"]:
            del self._perms[name]
            del self._owner[name]

    def forget(self, name: str) -> None:
        """Drop one permutation so that the next ``perm(name, ...)`` draws it afresh."""
        self._perms.pop(name, None)
        self._owner.pop(name, None)

    def per_query(self, part: str) -> bool:
        return self.mode(part) == "per_query"

    def describe(self) -> dict[str, str]:
        """Record-safe description: which parts are on and fixed/per_query (no key material)."""
        out = {f"key.{p}": self.mode(p) for p in PARTS}
        out["key.rotation"] = "fixed" if self.rotate else "off"
        return out


def draw_key(variant: str | None = "b", parts: dict[str, str] | None = None,
             special_tokens: tuple[int, ...] = ()) -> EEKey:
    """A fresh key for a variant preset (``parts`` overrides single parts)."""
    return EEKey(parts=parts_for(variant, parts), rotate=(variant in ROTATING_VARIANTS),
                 special_tokens=tuple(special_tokens))
