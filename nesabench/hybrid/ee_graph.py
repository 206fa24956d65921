"""EE for models composed of standard layers (MLPs, CNNs, user models), by tracing them with torch.fx.

Every tensor in the traced graph carries at most one permuted axis, tied to a "space" (a set of
coordinates that must share one permutation). Linear/Conv/Embedding/attention outputs open new
spaces; residual additions merge spaces (union-find), so a residual stream gets one permutation.
Once the graph is walked, one secret permutation per space is drawn and folded into the weights of
every layer that reads or writes it. Anything the walk does not understand raises
``UnsupportedLayer`` naming the layer type (or operation) and its path.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from nesabench.hybrid.ee_fold import UnsupportedLayer, expand, fold_attention, fold_linear, fold_vector, take
from nesabench.hybrid.keys import EEKey
from nesabench.workloads.models import SelfAttention

ELEMENTWISE_MODULES = (nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.Identity,
                       nn.Dropout, nn.ELU, nn.Softplus)
POOLING = (nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.AvgPool1d, nn.MaxPool1d)
NORMS = (nn.LayerNorm, nn.RMSNorm)
SUPPORTED = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.Flatten, nn.Embedding, SelfAttention,
             *ELEMENTWISE_MODULES, *POOLING, *NORMS)
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
ELEMENTWISE_FUNCS = {torch.relu, torch.tanh, torch.sigmoid, nn.functional.relu, nn.functional.gelu,
                     nn.functional.silu, torch.nn.functional.dropout, operator.neg, torch.neg}
ELEMENTWISE_METHODS = {"relu", "tanh", "sigmoid", "to", "float", "double", "clamp", "clamp_min", "clamp_max",
                       "contiguous", "detach", "neg", "abs", "exp", "type_as"}
BINARY = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul,
          torch.div, operator.iadd, operator.imul}
BINARY_METHODS = {"add", "sub", "mul", "div", "__add__", "__mul__", "masked_fill"}
INTERNAL_METHODS = {"size", "dim"}


@dataclass
class St:
    """What the graph walk knows about one value."""

    space: int | None = None  # permuted coordinate space, or None
    axis: int | None = None  # which axis is permuted (non-negative index), None until known
    block: int = 1  # flattened channel: each channel spans ``block`` consecutive coordinates
    ids: bool = False  # token ids (values permuted by the vocabulary key)
    param: str | None = None  # a parameter read by get_attr (permuted where it meets a space)
    tensor: bool = True


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, SUPPORTED) or super().is_leaf_module(m, qualname)


def check_layers(model: nn.Module) -> None:
    """Name the first layer EE cannot fold (its type and its path in the model)."""
    for path, m in model.named_modules():
        if isinstance(m, (SUPPORTED, CONTAINERS)) or not path:  # the root is traced, not folded as a unit
            continue
        own_leaf = not list(m.children()) and any(True for _ in m.parameters(recurse=False))
        if type(m).__module__.startswith("torch.nn") or own_leaf:
            raise UnsupportedLayer(type(m).__name__, path,
                                       "supported: " + ", ".join(sorted({c.__name__ for c in SUPPORTED})))


class _Walk:
    def __init__(self, gm: fx.GraphModule, key: EEKey):
        self.gm, self.key = gm, key
        self.modules = dict(gm.named_modules())
        self.parent: list[int] = []
        self.size: list[int] = []
        self.part: list[str] = []
        self.folds: list[tuple[Any, ...]] = []
        self.st: dict[fx.Node, St] = {}

    # union-find over spaces
    def new(self, size: int, part: str) -> int:
        self.parent.append(len(self.parent))
        self.size.append(size)
        self.part.append(part)
        return len(self.parent) - 1

    def root(self, s: int) -> int:
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a: int, b: int, where: str) -> int:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            if self.size[ra] != self.size[rb]:
                raise UnsupportedLayer("residual addition", where, "adds spaces of different widths")
            self.parent[rb] = ra
        return ra

    @staticmethod
    def ndim(n: fx.Node) -> int | None:
        tm = n.meta.get("tensor_meta")
        return len(tm.shape) if tm is not None and hasattr(tm, "shape") else None

    @staticmethod
    def shape(n: Any) -> tuple[int, ...] | None:
        tm = n.meta.get("tensor_meta") if isinstance(n, fx.Node) else None
        return tuple(tm.shape) if tm is not None and hasattr(tm, "shape") else None

    def get(self, a: Any) -> St:
        return self.st.get(a, St(tensor=False)) if isinstance(a, fx.Node) else St(tensor=False)

    def set_axis(self, s: St, axis: int, size: int, part: str, where: str) -> St:
        """Give a value whose permuted axis is not known yet (the model input) its axis and width."""
        if s.space is not None and s.axis is None:
            s.axis = axis
            self.size[self.root(s.space)] = size
            self.part[self.root(s.space)] = part
        elif s.space is not None and s.axis != axis:
            raise UnsupportedLayer("layout", where, f"permuted axis {s.axis} where axis {axis} is read")
        return s

    def run(self) -> None:
        for n in self.gm.graph.nodes:
            self.st[n] = self.visit(n)

    def visit(self, n: fx.Node) -> St:
        where = n.target if isinstance(n.target, str) else n.name
        if n.op == "placeholder":
            return St(space=self.new(0, "hidden"))
        if n.op == "get_attr":
            return St(param=str(n.target))
        if n.op == "output":
            return self.get(n.args[0])
        if n.op == "call_module":
            return self.module(n, self.modules[str(n.target)], str(n.target))
        args = [self.get(a) for a in n.args]
        internal = (n.op == "call_function" and n.target is getattr) or (
            n.op == "call_method" and n.target in INTERNAL_METHODS)
        if internal:
            return St(tensor=False)
        if n.op == "call_function" and n.target is operator.getitem:
            base = args[0]
            if not base.tensor:
                return St(tensor=False)
            if base.space is not None:
                raise UnsupportedLayer("indexing of a permuted tensor", where)
            return base
        target = n.target if n.op == "call_function" else str(n.target)
        if n.target in BINARY or target in BINARY_METHODS:
            return self.binary(n, args, where)
        if n.target in ELEMENTWISE_FUNCS or target in ELEMENTWISE_METHODS:
            return args[0] if args else St(tensor=False)
        if target in ("ne", "eq", operator.ne, operator.eq):
            return St()
        if target in ("flatten", torch.flatten):
            return self.flatten(n, args[0], where)
        if target in ("unsqueeze", torch.unsqueeze):
            s = args[0]
            dim = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
            nd = self.ndim(n)
            if s.space is not None and s.axis is not None and nd is not None and dim % nd <= s.axis:
                return St(space=s.space, axis=s.axis + 1, block=s.block)
            return s
        if target in ("sum", "mean", torch.sum, torch.mean):
            s = args[0]
            dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
            nd_in = self.ndim(n.args[0])
            if s.space is None or dims is None or nd_in is None:
                if s.space is not None:
                    raise UnsupportedLayer(f"{target} over all axes of a permuted tensor", where)
                return s
            dims = [d % nd_in for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
            keep = n.kwargs.get("keepdim", False)
            if s.axis in dims:
                return St()  # a sum over the permuted axis does not depend on the key
            shift = 0 if keep else sum(d < s.axis for d in dims)
            return St(space=s.space, axis=s.axis - shift, block=s.block)
        if any(a.space is not None for a in args):
            raise UnsupportedLayer(f"operation {getattr(n.target, '__name__', n.target)}", where,
                                   "not known to commute with a permutation")
        return St()

    def binary(self, n: fx.Node, args: list[St], where: str) -> St:
        a, b = (args + [St(tensor=False)] * 2)[:2]
        if n.target == "masked_fill":
            return a
        spaces = [s for s in (a, b) if s.space is not None]
        if len(spaces) == 2:
            if a.axis != b.axis or a.block != b.block:
                raise UnsupportedLayer("binary operation", where, "operands permuted along different axes")
            return St(space=self.union(a.space, b.space, where), axis=a.axis, block=a.block)
        if not spaces:
            return St() if a.tensor or b.tensor else St(tensor=False)
        s = spaces[0]
        other_node = n.args[1] if s is a else n.args[0]
        other = b if s is a else a
        if other.param is not None:
            self.folds.append(("param", other.param, s.space))
            return s
        shape, out_nd = self.shape(other_node), self.ndim(n)
        if other.tensor and shape is not None and out_nd is not None and s.axis is not None:
            ax = s.axis - (out_nd - len(shape))
            if 0 <= ax < len(shape) and shape[ax] != 1:
                raise UnsupportedLayer("binary operation", where, "mixes a permuted tensor with an "
                                       "unpermuted one along the permuted axis")
        return s

    def flatten(self, n: fx.Node, s: St, where: str, start: int | None = None) -> St:
        start = (n.args[1] if len(n.args) > 1 else n.kwargs.get("start_dim", 0)) if start is None else start
        nd = self.ndim(n.args[0])
        if s.space is None or nd is None:
            return s
        shape = self.shape(n.args[0])
        start = start % nd
        if s.axis is None or s.axis < start:
            return s
        block = s.block * int(torch.tensor(shape[s.axis + 1:]).prod().item()) if shape else s.block
        return St(space=s.space, axis=start, block=block)

    def module(self, n: fx.Node, m: nn.Module, path: str) -> St:
        x = self.get(n.args[0]) if n.args else St()
        if isinstance(m, nn.Linear):
            nd = self.ndim(n.args[0]) or 2
            self.set_axis(x, nd - 1, m.in_features, "hidden", path)
            out = self.new(m.out_features, "hidden")
            self.folds.append(("linear", path, x.space, x.block, out))
            return St(space=out, axis=nd - 1)
        if isinstance(m, nn.Conv2d):
            if m.groups != 1:
                raise UnsupportedLayer("Conv2d", path, "grouped convolutions are not supported")
            self.set_axis(x, 1, m.in_channels, "channels", path)
            out = self.new(m.out_channels, "channels")
            self.folds.append(("conv", path, x.space, out))
            return St(space=out, axis=1)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if x.space is not None and x.axis != 1:
                raise UnsupportedLayer(type(m).__name__, path,
                                       "normalizes an axis other than the permuted one")
            self.folds.append(("bn", path, x.space))
            return x
        if isinstance(m, NORMS):
            nd = self.ndim(n.args[0])
            if len(m.normalized_shape) != 1 or (x.space is not None and x.axis != (nd or 0) - 1):
                raise UnsupportedLayer(type(m).__name__, path,
                                       "normalizes more than the last (permuted) axis")
            self.folds.append(("norm", path, x.space))
            return x
        if isinstance(m, nn.Embedding):
            if x.space is not None:
                self.part[self.root(x.space)] = "vocab"
                self.size[self.root(x.space)] = m.num_embeddings
                x.ids, x.axis = True, -1
            out = self.new(m.embedding_dim, "hidden")
            self.folds.append(("embedding", path, x.space, out))
            return St(space=out, axis=(self.ndim(n) or 3) - 1)
        if isinstance(m, SelfAttention):
            nd = self.ndim(n.args[0]) or 3
            self.set_axis(x, nd - 1, m.n_heads * m.d_head, "hidden", path)
            out = self.new(m.n_heads * m.d_head, "hidden")
            self.folds.append(("attention", path, x.space, out))
            return St(space=out, axis=nd - 1)
        if isinstance(m, nn.Flatten):
            return self.flatten(n, x, path, start=m.start_dim)
        if isinstance(m, ELEMENTWISE_MODULES):
            return x
        if isinstance(m, POOLING):
            if x.space is not None and x.axis != 1:
                raise UnsupportedLayer(type(m).__name__, path, "pools over the permuted axis")
            return x
        raise UnsupportedLayer(type(m).__name__, path)


def example_input(model: nn.Module) -> torch.Tensor:
    """A guess at an input shape from the first layer, for models given without an example."""
    first = next((m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding))), None)
    if isinstance(first, nn.Linear):
        return torch.zeros(2, first.in_features)
    if isinstance(first, nn.Embedding):
        return torch.zeros(2, 8, dtype=torch.long)
    if isinstance(first, nn.Conv2d):
        for side in (8, 16, 28, 32, 64, 224):
            x = torch.zeros(2, first.in_channels, side, side)
            try:
                with torch.no_grad():
                    model(x)
                return x
            except RuntimeError:
                continue
    raise UnsupportedLayer(type(model).__name__, "",
                           "give an example input: no first layer to read its shape")


@torch.no_grad()
def encrypt_graph_model(model: nn.Module, key: EEKey, example: torch.Tensor | None = None) -> nn.Module:
    """The traced, folded copy of ``model``; ``key.layout`` says how to transform inputs and outputs."""
    if key.on("tokens"):
        raise UnsupportedLayer(type(model).__name__, "", "a token-order permutation needs a model whose "
                               "positions the client can supply (TinyTransformer, BERT); this one has none")
    if key.rotate:
        raise UnsupportedLayer(type(model).__name__, "", "a rotation commutes with no elementwise "
                               "non-linearity and this model has no normalized residual stream to "
                               "rotate (needs pre-norm)")
    check_layers(model)
    model = copy.deepcopy(model).eval()
    try:
        gm = fx.GraphModule(model, _Tracer().trace(model))
    except Exception as err:
        raise UnsupportedLayer(type(model).__name__, "", f"torch.fx cannot trace it ({err})") from err
    ShapeProp(gm).propagate(example if example is not None else example_input(model))
    walk = _Walk(gm, key)
    walk.run()
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    out = walk.st[out_node]
    inp = walk.st[next(n for n in gm.graph.nodes if n.op == "placeholder")]
    if out.space is not None:
        walk.part[walk.root(out.space)] = "classes"
    perms: dict[int, torch.Tensor | None] = {}

    def perm(space: int | None) -> torch.Tensor | None:
        if space is None:
            return None
        r = walk.root(space)
        if r not in perms:
            fixed = key.special_tokens if walk.part[r] == "vocab" else ()
            perms[r] = key.perm(f"fx.s{r}", walk.size[r], walk.part[r], fixed_ids=fixed)
        return perms[r]

    mods = dict(gm.named_modules())
    for fold in walk.folds:
        kind, path = fold[0], fold[1]
        if kind == "linear":
            fold_linear(mods[path], expand(perm(fold[2]), fold[3]), perm(fold[4]))
        elif kind == "conv":
            conv = mods[path]
            conv.weight.data = take(take(conv.weight.data, perm(fold[3]), 0), perm(fold[2]), 1).contiguous()
            if conv.bias is not None:
                conv.bias.data = take(conv.bias.data, perm(fold[3]), 0).contiguous()
        elif kind == "bn":
            bn = mods[path]
            fold_vector([bn.weight, bn.bias, bn.running_mean, bn.running_var], perm(fold[2]), 0)
        elif kind == "norm":
            fold_vector([mods[path].weight, getattr(mods[path], "bias", None)], perm(fold[2]))
        elif kind == "embedding":
            emb = mods[path]
            emb.weight.data = take(take(emb.weight.data, perm(fold[2]), 0), perm(fold[3]), 1).contiguous()
        elif kind == "attention":
            att = mods[path]
            fold_attention(att.q, att.k, att.v, att.o, att.n_heads, key, path, perm(fold[2]), perm(fold[3]))
        elif kind == "param":
            p = gm.get_parameter(path) if path in dict(gm.named_parameters()) else gm.get_buffer(path)
            p.data = take(p.data, perm(fold[2]), p.dim() - 1).contiguous()
    key.layout = {
        "family": "graph",
        "input": {"perm": None if inp.space is None else f"fx.s{walk.root(inp.space)}",
                  "axis": inp.axis, "ids": inp.ids, "block": inp.block},
        "output": {"perm": None if out.space is None else f"fx.s{walk.root(out.space)}", "axis": out.axis},
    }
    out_root = None if out.space is None else walk.root(out.space)
    key.layout["activations"] = [
        (str(n.target), st.axis - walk.ndim(n), perm(st.space) is not None) for n, st in walk.st.items()
        if n.op == "call_module" and st.space is not None and st.axis is not None
        and walk.root(st.space) != out_root]
    for space in (inp.space, out.space):
        perm(space)
    gm.recompile()
    return gm.eval()
