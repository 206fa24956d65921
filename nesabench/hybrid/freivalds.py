"""Freivalds checks of a node's linear layers on its shares, over Z_2^64.

The verifier draws secret random ring vectors R once (``rounds`` columns per layer) and keeps
W^T R and b R; checking a node's transcript (X, Y) of a layer then costs
O(rows * (in + out) * rounds) instead of recomputing O(rows * in * out): Y R == X (W^T R) + [b R].
Soundness: for a wrong Y, each uniform column of R misses the error with probability at most 1/2
over Z_2^64 (the worst case, an error divisible by 2^63; for an error with lowest set bit t it is
2^-(64-t)), so one layer check accepts a wrong result with probability <= 2^-rounds. R never
leaves the verifier, so reusing it across inferences keeps that bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nesabench.hybrid import ring
from nesabench.hybrid.program import Conv, Linear


@dataclass
class LayerCheck:
    """The verifier's secret projection of one layer."""

    op: Linear | Conv
    r: torch.Tensor
    wr: torch.Tensor | None = None
    br: torch.Tensor | None = None


def false_accept_bound(rounds: int) -> float:
    return 2.0 ** -rounds


def prepare_checks(ops: list[Linear | Conv], rounds: int, gen: torch.Generator) -> list[LayerCheck]:
    if rounds < 1:
        raise ValueError(f"freivalds rounds must be >= 1, got {rounds}")
    checks = []
    for op in ops:
        if isinstance(op, Linear):
            r = ring.uniform((op.weight.shape[0], rounds), gen)
            br = None if op.bias is None else op.bias @ r
            checks.append(LayerCheck(op, r, op.weight.T.contiguous() @ r, br))
        else:
            checks.append(LayerCheck(op, torch.empty(0)))  # conv: R drawn per check, shaped like Y
    return checks


def check(c: LayerCheck, x: torch.Tensor, y: torch.Tensor, party: int, rounds: int,
          gen: torch.Generator) -> bool:
    """True when the transcript (x, y) of ``party`` passes every round."""
    if isinstance(c.op, Linear):
        out = c.op.weight.shape[0]
        lhs = y.reshape(-1, out) @ c.r
        rhs = x.reshape(-1, x.shape[-1]) @ c.wr
        if party == 0 and c.br is not None:
            rhs = rhs + c.br
        return bool(torch.equal(lhs, rhs))
    op = c.op
    w = op.weight.double()
    bound = float(op.weight.abs().flatten(1).sum(1).max()) * op.weight.shape[0]
    for _ in range(rounds):
        r = ring.uniform(tuple(y.shape), gen)
        g = ring.linear_map(r, lambda t: F.conv_transpose2d(t, w, stride=op.stride, padding=op.padding),
                            bound)
        if g.shape != x.shape:
            raise ValueError(f"Freivalds on conv {op.name}: adjoint shape {tuple(g.shape)} "
                             f"!= input {tuple(x.shape)}")
        lhs = (y * r).sum()
        rhs = (x * g).sum()
        if party == 0 and op.bias is not None:
            rhs = rhs + (r * op.bias[None, :, None, None]).sum()
        if not torch.equal(lhs, rhs):
            return False
    return True
