"""Small folding primitives shared by every EE layer family: index a weight by a permutation, and
fold a multi-head attention's head and within-head permutations into its four projections."""

from __future__ import annotations

import torch
from torch import nn

from nesabench.hybrid.keys import EEKey


class UnsupportedLayer(ValueError):
    """A model holds a layer (or an operation) that EE cannot fold exactly: names its type and path."""

    def __init__(self, kind: str, path: str, detail: str = ""):
        self.kind, self.path = kind, path
        msg = f"equivariant encryption cannot fold {kind} at {path or '<model>'}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


def take(t: torch.Tensor, perm: torch.Tensor | None, dim: int) -> torch.Tensor:
    """``t`` permuted along ``dim`` (coordinate j of the result holds original perm[j])."""
    return t if perm is None else t.index_select(dim, perm.to(t.device))


def inverse(perm: torch.Tensor) -> torch.Tensor:
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    return inv


def expand(perm: torch.Tensor | None, block: int) -> torch.Tensor | None:
    """A channel permutation as a permutation of the flattened (channel, position) axis."""
    if perm is None or block == 1:
        return perm
    return (perm[:, None] * block + torch.arange(block)[None, :]).reshape(-1)


@torch.no_grad()
def fold_linear(lin: nn.Linear, p_in: torch.Tensor | None, p_out: torch.Tensor | None) -> None:
    """y' = y[p_out] for x' = x[p_in]: W' = W[p_out][:, p_in], b' = b[p_out]."""
    lin.weight.data = take(take(lin.weight.data, p_out, 0), p_in, 1).contiguous()
    if lin.bias is not None:
        lin.bias.data = take(lin.bias.data, p_out, 0).contiguous()


@torch.no_grad()
def fold_vector(params: list[torch.Tensor | None], perm: torch.Tensor | None, dim: int = -1) -> None:
    for p in params:
        if p is not None:
            p.data = take(p.data, perm, dim % p.dim()).contiguous()


def head_rows(key: EEKey, prefix: str, tag: str, n_heads: int, d_head: int) -> torch.Tensor | None:
    """Row permutation of a (n_heads * d_head) projection: heads moved, coordinates moved within heads."""
    h = key.perm(f"{prefix}.heads", n_heads, "heads")
    if h is None and not key.on("within_head"):
        return None
    h = torch.arange(n_heads) if h is None else h
    rows = []
    for j in range(n_heads):
        w = key.perm(f"{prefix}.{tag}{j}", d_head, "within_head")
        w = torch.arange(d_head) if w is None else w
        rows.append(h[j] * d_head + w)
    return torch.cat(rows)


@torch.no_grad()
def fold_attention(q: nn.Linear, k: nn.Linear, v: nn.Linear, o: nn.Linear, n_heads: int, key: EEKey,
                   prefix: str, p_in: torch.Tensor | None, p_out: torch.Tensor | None) -> None:
    """Scores q.k are sums over a head's coordinates, so Q and K share one within-head permutation;
    V's rows and O's columns share another; the head order is one permutation for all four."""
    d_head = q.out_features // n_heads
    qk = head_rows(key, prefix, "qk", n_heads, d_head)
    vo = head_rows(key, prefix, "vo", n_heads, d_head)
    fold_linear(q, p_in, qk)
    fold_linear(k, p_in, qk)
    fold_linear(v, p_in, vo)
    fold_linear(o, vo, p_out)
