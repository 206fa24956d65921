"""A model as a straight-line program of share-friendly operations (what every party executes).

``compile_model`` reads a (possibly EE-transformed) model of a known architecture into ops:
linear maps with public fixed-point weights (run locally on shares), truncations, Beaver products
of two shared tensors, local reshapes and additions, and non-linear steps (run by the client or by
one node on opened values). Each value carries its fixed-point scale (f or 2f fractional bits), so
a truncation appears exactly where a product would otherwise overflow. ``run_plain`` executes the
program on reals (float64): the reference for the shares and the source of every value's shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nesabench.hybrid import ring
from nesabench.hybrid.ring_matmul import RingMatmul


@dataclass
class WeightedMap:
    """A linear map with public fixed-point weights (f bits) and bias (2f bits)."""

    name: str
    src: str
    dst: str
    weight: torch.Tensor
    bias: torch.Tensor | None


@dataclass
class Linear(WeightedMap):
    """dst = src @ W^T + b, W public at f fractional bits; src at f, dst at 2f."""
    #: x @ W^T mod 2^64 through exact float64 limbs (``ring_matmul``); made where the op runs.
    matmul: RingMatmul | None = field(default=None, repr=False)

    def prepare(self) -> None:
        self.matmul = RingMatmul(self.weight.T)


@dataclass
class Conv(WeightedMap):
    """2-D convolution with public weights, through exact float64 limbs (src f, dst 2f)."""

    stride: int
    padding: int


@dataclass
class Trunc:
    """Drop f fractional bits of each src in place (2f -> f): one round for all of them."""

    name: str
    srcs: list[str]


@dataclass
class Binary:
    """An op of two values a, b into dst."""

    name: str
    a: str
    b: str
    dst: str


@dataclass
class Beaver(Binary):
    """dst = a @ b (batched matmul) of two shared tensors at f, through a Beaver triple; dst at 2f."""


@dataclass
class Local:
    """A local reshaping/rescaling of shares: heads, heads_t, merge, upscale."""

    name: str
    src: str
    dst: str
    fn: str
    heads: int = 1


@dataclass
class Concat:
    """dst = srcs concatenated along the last axis (local)."""

    name: str
    srcs: list[str]
    dst: str


@dataclass
class Add(Binary):
    """dst = a + b (local)."""


@dataclass
class NonLinear:
    """dst = steps(opened src): run on reals by the client or the revealing node, re-shared at f."""

    name: str
    src: str
    dst: str
    src_frac: int
    steps: list[tuple[str, dict[str, Any]]]


@dataclass
class Output:
    name: str
    src: str
    src_frac: int


Op = Linear | Conv | Trunc | Beaver | Local | Concat | Add | NonLinear | Output


@dataclass
class Program:
    ops: list[Op]
    frac_bits: int
    #: How the client turns its (EE-transformed) input into the tensor it shares.
    pre: str = "identity"
    pre_params: dict[str, Any] = field(default_factory=dict)
    #: Per-sample shape of every value, filled by ``run_plain``.
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def for_nodes(self, strip_weights: bool = False) -> Program:
        """What the nodes receive: everything but the client's embedding tables (and, when the
        weights are secret-shared, every linear layer's weights)."""
        ops = self.ops
        if strip_weights:
            ops = [Linear(op.name, op.src, op.dst, torch.empty(0, dtype=torch.int64), None)
                   if isinstance(op, Linear) else op for op in ops]
        return Program(ops, self.frac_bits, self.pre, {}, dict(self.shapes))

    def linear_flops(self) -> float:
        """Multiply-adds x2 of the linear maps and Beaver products, per sample."""
        total = 0.0
        for op in self.ops:
            if isinstance(op, Linear):
                rows = math.prod(self.shapes[op.src][:-1])
                total += 2 * rows * op.weight.numel()
            elif isinstance(op, Conv):
                out = self.shapes[op.dst]
                total += 2 * math.prod(out) * op.weight[0].numel()
            elif isinstance(op, Beaver):
                a, b = self.shapes[op.a], self.shapes[op.b]
                total += 2 * math.prod(a) * b[-1]
        return total

    def nonlinear_flops(self) -> float:
        """Rough element-operation count of the non-linear steps, per sample (see STEP_FLOPS)."""
        total = 0.0
        for op in self.ops:
            if isinstance(op, NonLinear):
                n = math.prod(self.shapes[op.src])
                total += n * sum(STEP_FLOPS.get(s, 4) for s, _ in op.steps)
        return total


#: Element operations per input element of each non-linear step (for client_flops_fraction).
STEP_FLOPS = {"relu": 1, "gelu": 12, "tanh": 10, "sigmoid": 6, "pool2_flatten": 1, "layernorm": 8,
              "softmax": 6, "meanpool": 2, "normalize": 3, "module": 2, "flatten": 0,
              "attention": 64}


# ---- non-linear steps on reals ----------------------------------------------------------------

def apply_steps(x: torch.Tensor, steps: list[tuple[str, dict[str, Any]]],
                keep: torch.Tensor | None) -> torch.Tensor:
    for name, p in steps:
        x = STEPS[name](x, p, keep)
    return x


def _masked_softmax(x: torch.Tensor, p: dict[str, Any], keep: torch.Tensor | None) -> torch.Tensor:
    x = x * p["scale"]
    if keep is not None:
        x = x.masked_fill(~keep[:, None, None, :], float("-inf"))
    return torch.softmax(x, dim=-1)


def _attention(x: torch.Tensor, p: dict[str, Any], keep: torch.Tensor | None) -> torch.Tensor:
    """softmax(Q K^T * scale) V on opened [Q | K | V], heads split and merged back."""
    b, t, _ = x.shape
    q, k, v = (z.reshape(b, t, p["heads"], -1).transpose(1, 2) for z in x.chunk(3, -1))
    probs = _masked_softmax(q @ k.transpose(-1, -2), p, keep)
    return (probs @ v).transpose(1, 2).reshape(b, t, -1)


def _meanpool(x: torch.Tensor, p: dict[str, Any], keep: torch.Tensor | None) -> torch.Tensor:
    w = (keep if keep is not None else torch.ones(x.shape[:2], dtype=torch.bool)).unsqueeze(-1).double()
    return (x * w).sum(1) / w.sum(1).clamp_min(p.get("min_count", 1.0))


STEPS = {
    "relu": lambda x, p, k: torch.relu(x),
    "gelu": lambda x, p, k: F.gelu(x),
    "tanh": lambda x, p, k: torch.tanh(x),
    "sigmoid": lambda x, p, k: torch.sigmoid(x),
    "pool2_flatten": lambda x, p, k: F.avg_pool2d(x, 2).flatten(1),
    "layernorm": lambda x, p, k: F.layer_norm(x, x.shape[-1:], p["weight"], p["bias"], p["eps"]),
    "softmax": _masked_softmax,
    "attention": _attention,
    "meanpool": _meanpool,
    "normalize": lambda x, p, k: F.normalize(x, dim=-1),
    "module": lambda x, p, k: p["module"].double()(x),
    "flatten": lambda x, p, k: x.flatten(p["start_dim"]),
}

#: beaver: QK^T and PV as Beaver products on shares; client: Q, K, V opened to the non-linear party,
#: which runs the whole attention (fewer rounds; that party then sees Q, K, V).
ATTENTION_MODES = ("beaver", "client")

ACTIVATION_STEPS = {nn.ReLU: "relu", nn.GELU: "gelu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}


# ---- compiling a model ------------------------------------------------------------------------

class Builder:
    """Emits ops and tracks each value's scale (fractional bits) so truncations land where needed."""

    def __init__(self, frac_bits: int, attention: str = "beaver"):
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        self.f = frac_bits
        self.attention_mode = attention
        self.ops: list[Op] = []
        self.scale: dict[str, int] = {}
        self.n = 0

    def fresh(self, hint: str) -> str:
        self.n += 1
        return f"{hint}#{self.n}"

    def to_f(self, src: str, name: str) -> str:
        if self.scale[src] == 2 * self.f:
            self.ops.append(Trunc(f"{name}.trunc", [src]))
            self.scale[src] = self.f
        return src

    def linear(self, name: str, src: str, lin: nn.Linear) -> str:
        src = self.to_f(src, name)
        dst = self.fresh(name)
        w = ring.encode(lin.weight.detach(), self.f)
        b = None if lin.bias is None else ring.encode(lin.bias.detach(), 2 * self.f)
        self.ops.append(Linear(name, src, dst, w, b))
        self.scale[dst] = 2 * self.f
        return dst

    def conv(self, name: str, src: str, conv: nn.Conv2d) -> str:
        if conv.groups != 1 or conv.dilation != (1, 1) or len(set(conv.stride)) != 1:
            raise ValueError(f"conv {name}: only groups=1, dilation=1, square stride are supported")
        src = self.to_f(src, name)
        dst = self.fresh(name)
        w = ring.encode(conv.weight.detach(), self.f)
        b = None if conv.bias is None else ring.encode(conv.bias.detach(), 2 * self.f)
        pad = conv.padding if isinstance(conv.padding, int) else conv.padding[0]
        self.ops.append(Conv(name, src, dst, w, b, conv.stride[0], pad))
        self.scale[dst] = 2 * self.f
        return dst

    def nonlinear(self, name: str, src: str, steps: list[tuple[str, dict[str, Any]]]) -> str:
        dst = self.fresh(name)
        self.ops.append(NonLinear(name, src, dst, self.scale[src], steps))
        self.scale[dst] = self.f
        return dst

    def local(self, name: str, src: str, fn: str, heads: int = 1) -> str:
        dst = self.fresh(name)
        self.ops.append(Local(name, src, dst, fn, heads))
        self.scale[dst] = self.scale[src] + (self.f if fn == "upscale" else 0)
        return dst

    def add(self, name: str, a: str, b: str) -> str:
        if self.scale[a] != self.scale[b]:
            a, b = (self.local(f"{name}.up", a, "upscale") if self.scale[a] < self.scale[b] else a,
                    self.local(f"{name}.up", b, "upscale") if self.scale[b] < self.scale[a] else b)
        dst = self.fresh(name)
        self.ops.append(Add(name, a, b, dst))
        self.scale[dst] = self.scale[a]
        return dst

    def attention(self, name: str, src: str, q: nn.Linear, k: nn.Linear, v: nn.Linear, heads: int) -> str:
        """Softmax attention on shares: Q, K, V locally, QK^T and PV by Beaver triples."""
        qs, ks, vs = (self.linear(f"{name}.{t}", src, lin) for t, lin in (("q", q), ("k", k), ("v", v)))
        d_head = q.out_features // heads
        if self.attention_mode == "client":  # Q, K, V opened (at 2f) to whoever runs non-linear steps
            qkv = self.fresh(f"{name}.qkv")
            self.ops.append(Concat(f"{name}.qkv", [qs, ks, vs], qkv))
            self.scale[qkv] = 2 * self.f
            return self.nonlinear(f"{name}.attention", qkv,
                                  [("attention", {"heads": heads, "scale": 1 / math.sqrt(d_head)})])
        self.ops.append(Trunc(f"{name}.qkv.trunc", [qs, ks, vs]))
        for s in (qs, ks, vs):
            self.scale[s] = self.f
        qh = self.local(f"{name}.qh", qs, "heads", heads)
        kt = self.local(f"{name}.kt", ks, "heads_t", heads)
        vh = self.local(f"{name}.vh", vs, "heads", heads)
        scores = self.fresh(f"{name}.scores")
        self.ops.append(Beaver(f"{name}.scores", qh, kt, scores))
        self.scale[scores] = 2 * self.f
        probs = self.nonlinear(f"{name}.softmax", scores, [("softmax", {"scale": 1 / math.sqrt(d_head)})])
        ctx = self.fresh(f"{name}.ctx")
        self.ops.append(Beaver(f"{name}.ctx", probs, vh, ctx))
        self.scale[ctx] = 2 * self.f
        ctx = self.to_f(ctx, f"{name}.ctx")
        return self.local(f"{name}.merge", ctx, "merge", heads)

    def output(self, src: str) -> None:
        self.ops.append(Output("output", src, self.scale[src]))


def _ln(m: nn.LayerNorm) -> tuple[str, dict[str, Any]]:
    return "layernorm", {"weight": m.weight.detach().double(), "bias": m.bias.detach().double(), "eps": m.eps}


def compile_model(model: nn.Module, frac_bits: int, attention: str = "beaver") -> Program:
    """The program for one of the built-in architectures, plain or EE-transformed.

    Chains of linear layers and element-wise steps (MLP, DigitsCNN, and their EE-folded torch.fx
    graphs) are read off the fx graph; token models are read by structure. EE token models must
    let the client embed (``client_embeds``): the shares then start at the hidden states.
    """
    from torch import fx

    from nesabench.workloads import models as M

    b = Builder(frac_bits, attention)
    b.scale["x"] = frac_bits
    if isinstance(model, (M.MLP, M.DigitsCNN)):
        model = fx.symbolic_trace(model)
    if isinstance(model, fx.GraphModule):
        return _compile_chain(b, model, frac_bits)
    given = False
    if type(model).__name__ in ("EETinyNode", "EEMiniLMNode"):
        if not getattr(model, "client_embeds", False):
            raise ValueError("secret-shared EE needs the client to embed "
                             "(encrypt_model(..., client_embeds=True))")
        model, given = model.model, True
    if isinstance(model, M.TinyTransformer):
        return _compile_tiny(b, model, frac_bits, given)
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(encoder, "embeddings") and hasattr(model, "head"):
        return _compile_bert(b, model, encoder, frac_bits, given)
    raise ValueError(f"no share protocol for model {type(model).__name__}; supported: MLP, DigitsCNN, "
                     "TinyTransformer, a BERT encoder with a linear head (MiniLMClassifier), their EE forms")


#: Element-wise modules a chain may hold between linear layers (applied on opened values).
ELEMENTWISE = (nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.AvgPool2d, nn.MaxPool2d, nn.Flatten, nn.Identity,
               nn.Dropout)


def _compile_chain(b: Builder, gm: nn.Module, frac_bits: int) -> Program:
    """A straight chain: each graph node consumes the previous one (MLP, CNN and their EE forms)."""
    import operator

    mods = dict(gm.named_modules())
    h = "x"
    pending: list[tuple[str, dict[str, Any]]] = []
    prev = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            prev = node
            continue
        if node.op == "output":
            break
        args = [a for a in node.args if hasattr(a, "op")]
        if args and args[0] is not prev:
            raise ValueError(f"graph node {node.name} is not a straight chain; no share protocol for it")
        prev = node
        if node.op == "call_module" and isinstance(mods[node.target], (nn.Linear, nn.Conv2d)):
            if pending:
                h = b.nonlinear(pending[0][1]["name"], h, pending)
                pending = []
            m = mods[node.target]
            name = str(node.target)
            h = b.linear(name, h, m) if isinstance(m, nn.Linear) else b.conv(name, h, m)
        elif node.op == "call_module" and isinstance(mods[node.target], ELEMENTWISE):
            pending.append(("module", {"module": mods[node.target], "name": str(node.target)}))
        elif node.target in (torch.flatten, "flatten", operator.getitem) or str(node.target) == "flatten":
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 1)
            pending.append(("flatten", {"start_dim": start, "name": node.name}))
        else:
            raise ValueError(f"graph node {node.name} ({node.op} {node.target}) has no share protocol")
    if pending:
        h = b.nonlinear(pending[0][1]["name"], h, pending)
    b.output(h)
    return Program(b.ops, frac_bits)


def _compile_tiny(b: Builder, model: nn.Module, frac_bits: int, given: bool) -> Program:
    h = "x"
    for i, blk in enumerate(model.blocks):
        a = b.nonlinear(f"block{i}.ln1", h, [_ln(blk.ln1)])
        att = blk.attn
        ctx = b.attention(f"block{i}.attn", a, att.q, att.k, att.v, att.n_heads)
        h = b.add(f"block{i}.res1", b.linear(f"block{i}.attn.o", ctx, att.o), h)
        a = b.nonlinear(f"block{i}.ln2", h, [_ln(blk.ln2)])
        u = b.nonlinear(f"block{i}.gelu", b.linear(f"block{i}.ff1", a, blk.ff1), [("gelu", {})])
        h = b.add(f"block{i}.res2", b.linear(f"block{i}.ff2", u, blk.ff2), h)
    pooled = b.nonlinear("ln_f.pool", h, [_ln(model.ln_f), ("meanpool", {"min_count": 1.0})])
    b.output(b.linear("head", pooled, model.head))
    if given:
        return Program(b.ops, frac_bits, "given")
    return Program(b.ops, frac_bits, "embed_tiny", {
        "embed": model.embed.weight.detach().double(), "pos": model.pos.detach().double(),
        "pad_id": model.pad_id})


def _compile_bert(b: Builder, model: nn.Module, enc: nn.Module, frac_bits: int, given: bool) -> Program:
    emb = enc.embeddings
    h = "x" if given else b.nonlinear("embeddings.ln", "x", [_ln(emb.LayerNorm)])
    layers = list(enc.encoder.layer)
    for i, layer in enumerate(layers):
        sa = layer.attention.self
        ctx = b.attention(f"layer{i}.attn", h, sa.query, sa.key, sa.value, sa.num_attention_heads)
        t = b.add(f"layer{i}.res1", b.linear(f"layer{i}.attn.out", ctx, layer.attention.output.dense), h)
        h1 = b.nonlinear(f"layer{i}.ln1", t, [_ln(layer.attention.output.LayerNorm)])
        u = b.linear(f"layer{i}.ff1", h1, layer.intermediate.dense)
        u = b.nonlinear(f"layer{i}.gelu", u, [("gelu", {})])
        t2 = b.add(f"layer{i}.res2", b.linear(f"layer{i}.ff2", u, layer.output.dense), h1)
        steps = [_ln(layer.output.LayerNorm)]
        if i == len(layers) - 1:  # the model's own pooling, fused into the last non-linear step
            steps += [("meanpool", {"min_count": 1e-9}), ("normalize", {})]
        h = b.nonlinear(f"layer{i}.ln2" + (".pool" if i == len(layers) - 1 else ""), t2, steps)
    b.output(b.linear("head", h, model.head))
    if given:
        return Program(b.ops, frac_bits, "given")
    return Program(b.ops, frac_bits, "embed_bert", {
        "word": emb.word_embeddings.weight.detach().double(),
        "pos": emb.position_embeddings.weight.detach().double(),
        "type": emb.token_type_embeddings.weight.detach().double(),
        "pad_id": getattr(model, "pad_id", 0)})


# ---- the client's own part and the reference execution ----------------------------------------

def client_input(program: Program, x: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(real tensor the client shares, key-padding mask or None) from the (EE-transformed) input."""
    p = program.pre_params
    if program.pre == "given":  # EE with client_embeds: (hidden states, keep mask)
        h, keep = x
        return h.double(), keep.bool()
    if program.pre == "identity":
        return x.double(), None
    keep = x != p["pad_id"]
    if program.pre == "embed_tiny":
        return p["embed"][x] + p["pos"][: x.shape[1]], keep
    if program.pre == "embed_bert":
        t = x.shape[1]
        return p["word"][x] + p["pos"][:t] + p["type"][0], keep
    raise ValueError(f"unknown client input step {program.pre!r}")


def local_op(op: Local, x: torch.Tensor, frac_bits: int) -> torch.Tensor:
    if op.fn == "upscale":
        return x << frac_bits if x.dtype == torch.int64 else x
    bsz, h = x.shape[0], op.heads
    if op.fn == "heads":
        return x.reshape(bsz, x.shape[1], h, -1).transpose(1, 2).contiguous()
    if op.fn == "heads_t":
        return x.reshape(bsz, x.shape[1], h, -1).permute(0, 2, 3, 1).contiguous()
    if op.fn == "merge":
        return x.transpose(1, 2).reshape(bsz, x.shape[2], -1).contiguous()
    raise ValueError(f"unknown local op {op.fn!r}")


#: Ops every party runs alone, the same on reals and on shares.
LOCAL_OPS = (Local, Add, Concat)


def run_local(op: Local | Add | Concat, vals: dict[str, torch.Tensor], frac_bits: int) -> torch.Tensor:
    """A local op's result on reals (run_plain) or on one party's shares (the nodes)."""
    if isinstance(op, Add):
        return vals[op.a] + vals[op.b]
    if isinstance(op, Concat):
        return torch.cat([vals[s] for s in op.srcs], -1)
    return local_op(op, vals[op.src], frac_bits)


def run_plain(program: Program, x: Any) -> torch.Tensor:
    """Execute on reals with the program's fixed-point weights; records every value's shape."""
    f = program.frac_bits
    h, keep = client_input(program, x)
    vals: dict[str, torch.Tensor] = {"x": h}
    shapes = {"x": tuple(h.shape[1:])}
    out = None
    for op in program.ops:
        if isinstance(op, Linear):
            y = vals[op.src] @ ring.decode(op.weight, f).T
            vals[op.dst] = y if op.bias is None else y + ring.decode(op.bias, 2 * f)
        elif isinstance(op, Conv):
            vals[op.dst] = F.conv2d(vals[op.src], ring.decode(op.weight, f),
                                    None if op.bias is None else ring.decode(op.bias, 2 * f),
                                    stride=op.stride, padding=op.padding)
        elif isinstance(op, Beaver):
            vals[op.dst] = vals[op.a] @ vals[op.b]
        elif isinstance(op, LOCAL_OPS):
            vals[op.dst] = run_local(op, vals, f)
        elif isinstance(op, NonLinear):
            vals[op.dst] = apply_steps(vals[op.src], op.steps, keep)
        elif isinstance(op, Output):
            out = vals[op.src]
        for key in ("dst",):
            if hasattr(op, key):
                shapes[getattr(op, key)] = tuple(vals[getattr(op, key)].shape[1:])
    program.shapes = shapes
    if out is None:
        raise ValueError("program has no output")
    return out
