"""The program executed on shares: the nodes' side (NodeServer) and the client's side (ShareClient).

Both sides walk the same op list in lockstep. Linear maps, additions and reshapes are local to
each node; a Beaver product opens X - A and Y - B among the nodes (one round); a truncation either
opens x + r among the nodes (``truncation: dealer``; uniform, see ``shares``) or goes to the client
and back (``truncation: client``); a non-linear step opens its input to the client (``nonlinear: client``)
or to node0 (``nonlinear: reveal_permuted``), which applies it and re-shares the result.
Every message goes through ``nodes.Channel``, which counts bytes and rounds.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from nesabench.hybrid import ring
from nesabench.hybrid import shares as S
from nesabench.hybrid.nodes import Channel, Traffic
from nesabench.hybrid.program import (
    LOCAL_OPS,
    Beaver,
    Conv,
    Linear,
    NonLinear,
    Output,
    Program,
    Trunc,
    apply_steps,
    client_input,
    run_local,
)
from nesabench.threads import torch_threads

NONLINEAR_MODES = ("client", "reveal_permuted")
TRUNCATION_MODES = ("dealer", "client")
TAMPER_MODES = ("noise", "flip", "skip", "stale")


@dataclass
class ProtocolConfig:
    nodes: int
    nonlinear: str = "client"
    truncation: str = "dealer"
    frac_bits: int = 16
    trunc_bound_bits: int = 46
    #: Copies of the whole k-node group fed identical messages (consensus by commitments); 1 = none.
    replicas: int = 1
    #: permuted: EE weights public to the nodes; shared: weights secret-shared by the model owner.
    weights: str = "permuted"

    def __post_init__(self) -> None:
        if self.weights not in ("permuted", "shared"):
            raise ValueError(f"weights must be 'permuted' or 'shared', got {self.weights!r}")
        if self.replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {self.replicas}")
        if self.nonlinear not in NONLINEAR_MODES:
            raise ValueError(f"nonlinear must be one of {NONLINEAR_MODES}, got {self.nonlinear!r}")
        if self.truncation not in TRUNCATION_MODES:
            raise ValueError(f"truncation must be one of {TRUNCATION_MODES}, got {self.truncation!r}")
        if not 4 <= self.frac_bits <= 24:
            raise ValueError(f"frac_bits must be in [4, 24], got {self.frac_bits}")
        S.check_bound(self.trunc_bound_bits, self.frac_bits)


@dataclass
class Tamper:
    """A cheating node: how it corrupts its share of one linear layer's output."""

    node: int
    mode: str
    magnitude: float
    layer: int  # index into the program's linear ops

    def __post_init__(self) -> None:
        if self.mode not in TAMPER_MODES:
            raise ValueError(f"tamper.mode must be one of {TAMPER_MODES}, got {self.mode!r}")


@dataclass
class InferRequest:
    batch: int
    tamper: Tamper | None = None
    #: Test hook: (node, op index) at which that node raises.
    fault: tuple[int, int] | None = None
    #: Keep each node's linear-layer inputs/outputs (for Freivalds checks) until the next call.
    keep_linear: bool = False
    #: Seed of node0's re-sharing in reveal_permuted mode, the same for every replica group.
    seed: int = 0


def dealt_shapes(program: Program, cfg: ProtocolConfig) -> dict[str, list[tuple[int, ...]]]:
    """Per-sample shapes of the correlated randomness each op consumes."""
    out: dict[str, list[tuple[int, ...]]] = {}
    for op in program.ops:
        if isinstance(op, Beaver):
            out[op.name] = [program.shapes[op.a], program.shapes[op.b]]
        elif isinstance(op, Trunc) and cfg.truncation == "dealer":
            out[op.name] = [(sum(_numel(program.shapes[s]) for s in op.srcs),)]
        elif isinstance(op, Linear) and cfg.weights == "shared":
            out[op.name] = [program.shapes[op.src], program.shapes[op.dst], ()]
    return out


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def deal(program: Program, cfg: ProtocolConfig, samples: int, gen: torch.Generator,
         weight_masks: dict[str, torch.Tensor] | None = None) -> list[dict[str, list]]:
    """The dealer's offline phase: every node's shares of triples and truncation pairs.

    Shared weights reuse one mask B per layer (W^T - B is opened once at setup): per sample the
    dealer gives A and C = A @ B.
    """
    per_node: list[dict[str, list]] = [{} for _ in range(cfg.nodes)]
    for name, shapes in dealt_shapes(program, cfg).items():
        if len(shapes) == 3:
            a = ring.uniform((samples, *shapes[0]), gen)
            c = a @ (weight_masks or {})[name]
            pairs = zip(S.share(a, cfg.nodes, gen), S.share(c, cfg.nodes, gen), strict=True)
            for j, (aj, cj) in enumerate(pairs):
                per_node[j][name] = [aj, cj]
        elif len(shapes) == 2:
            parts = S.deal_triples((samples, *shapes[0]), (samples, *shapes[1]), cfg.nodes, gen)
            for j, t in enumerate(parts):
                per_node[j][name] = [t.a, t.b, t.c]
        else:
            pairs = S.deal_trunc_pairs((samples, *shapes[0]), cfg.frac_bits, cfg.nodes, gen)
            for j, p in enumerate(pairs):
                per_node[j][name] = [p.r, p.r_high, p.r_msb]
    return per_node


@dataclass
class Pool:
    """Dealt randomness not yet used, per op, batch-first by sample."""

    items: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    def size(self) -> int:
        return min((v[0].shape[0] for v in self.items.values()), default=1 << 30)

    def add(self, dealt: dict[str, list[torch.Tensor]]) -> None:
        for name, parts in dealt.items():
            have = self.items.get(name)
            self.items[name] = parts if have is None else [
                torch.cat([a, b]) for a, b in zip(have, parts, strict=True)]

    def take(self, name: str, n: int) -> list[torch.Tensor]:
        parts = self.items[name]
        if parts[0].shape[0] < n:
            raise RuntimeError(f"dealer pool exhausted for {name}: {parts[0].shape[0]} < {n}")
        self.items[name] = [p[n:] for p in parts]
        return [p[:n] for p in parts]


def linear_share(op: Linear | Conv, x: torch.Tensor, party: int) -> torch.Tensor:
    """A node's local share of a linear layer (bias added by node0 only)."""
    if isinstance(op, Linear):
        y = op.matmul(x) if op.matmul is not None else x @ op.weight.T
        if op.bias is not None and party == 0:
            y = y + op.bias
        return y
    w = op.weight.double()
    bound = float(op.weight.abs().flatten(1).sum(1).max())
    y = ring.linear_map(x, lambda t: F.conv2d(t, w, stride=op.stride, padding=op.padding), bound)
    if op.bias is not None and party == 0:
        y = y + op.bias[None, :, None, None]
    return y


def stale_version(op: Linear | Conv, magnitude: float, gen: torch.Generator) -> Linear | Conv:
    """An older copy of a layer's weights, simulated as W + N(0, (magnitude * std W)^2)."""
    w = op.weight.double()
    noisy = w + torch.randn(w.shape, generator=gen, dtype=torch.float64) * magnitude * w.std()
    out = type(op)(**{**vars(op), "weight": torch.round(noisy).long()})
    if isinstance(out, Linear):
        out.prepare()
    return out


def tampered(y: torch.Tensor, t: Tamper, x: torch.Tensor, op: Linear | Conv, party: int,
             frac_bits: int, gen: torch.Generator) -> torch.Tensor:
    """What a cheating node returns instead of its honest share ``y``."""
    scale = int(max(1, round(t.magnitude * 2 ** (2 * frac_bits))))
    if t.mode == "noise":
        return y + torch.randint(-scale, scale + 1, y.shape, generator=gen)
    if t.mode == "flip":
        out = y.clone().reshape(-1)
        out[torch.randint(0, out.numel(), (1,), generator=gen)] += scale
        return out.reshape(y.shape)
    if t.mode == "skip":
        return torch.zeros_like(y)
    return linear_share(stale_version(op, t.magnitude, gen), x, party)


class NodeServer:
    """One node: waits for the client's requests and runs the program on its shares."""

    def __init__(self, ch: Channel):
        self.ch = ch
        self.program: Program | None = None
        self.cfg: ProtocolConfig | None = None
        self.pool = Pool()
        self.views: list[tuple[str, str, Any]] = []
        self.weight_shares: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = {}
        self.linear_io: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.gen = ring.csprng()
        #: This node's re-sharing masks from the client, drawn locally from a seed the client sent.
        self.mask_gen: torch.Generator | None = None

    def serve(self) -> None:
        while True:
            cmd, arg = self.ch.recv_request()
            if cmd == "stop":
                return
            if cmd == "program":
                self.program, self.cfg = arg
                for op in self.program.ops:
                    if isinstance(op, Linear) and op.weight.numel():
                        op.prepare()
            elif cmd == "weight_shares":
                self.weight_shares = arg
            elif cmd == "mask_seed":
                self.mask_gen = torch.Generator().manual_seed(arg)
            elif cmd == "deal":
                self.pool.add(arg)
            elif cmd == "infer":
                self.infer(arg)
            elif cmd == "views":
                self.ch.send_object(self.views, 0)
            elif cmd == "linear_io":
                self.ch.send_object(self.linear_io, 0)
            else:
                raise ValueError(f"unknown request {cmd!r}")

    # -- rounds: each helper is one communication step for this node --------------------------
    def _to_peer(self, t: torch.Tensor, dst_rank: int, reply_shape: tuple[int, ...]) -> torch.Tensor:
        self.ch.round()
        self.ch.send(t, dst_rank)
        self.ch.round()
        return self.ch.recv_shape(reply_shape, dst_rank)

    def _via_client(self, t: torch.Tensor, reply_shape: tuple[int, ...]) -> torch.Tensor:
        """Send this share to the client, which re-shares the result: node0..k-2 draw their new
        share (a mask) from the seeded stream the client shares with them, without waiting on the
        client; node k-1 receives the client's x - sum of masks."""
        if self.mask_gen is None:
            return self._to_peer(t, 0, reply_shape)
        self.ch.round()
        work, _ = self.ch.isend(t, 0)
        mask = ring.uniform(reply_shape, self.mask_gen)  # drawn while the share is on the wire
        work.wait()
        return mask

    def _shared_linear(self, op: Linear, x: torch.Tensor, batch: int, j: int,
                       others: list[int]) -> torch.Tensor:
        """X @ W^T with W secret-shared: open E = X - A, then E B_j + A_j F + C_j (+ E F, node0)."""
        a, c = self.pool.take(op.name, batch)
        b_j, f_pub, bias_j = self.weight_shares[op.name]
        e = x - a
        self.ch.round()
        got = self.ch.exchange({r: e for r in others}, {r: tuple(e.shape) for r in others})
        for r in others:
            e = e + got[r]
        self.views.append(("share", f"{op.name}.opened@node{j}", e))
        y = e @ b_j + a @ f_pub + c
        if j == 0:
            y = y + e @ f_pub
        return y if bias_j is None else y + bias_j

    def infer(self, req: InferRequest) -> None:
        p, cfg, ch = self.program, self.cfg, self.ch
        assert p is not None and cfg is not None
        k = cfg.nodes
        j, group = (ch.rank - 1) % k, (ch.rank - 1) // k
        lead = 1 + group * k  # this group's node0
        f, B = cfg.frac_bits, req.batch
        ch.traffic = Traffic()
        t0 = time.perf_counter()
        shp = {name: (B, *s) for name, s in p.shapes.items()}
        self.views, self.linear_io = [], []
        output_digest = ""
        ch.round()
        vals = {"x": ch.recv_shape(shp["x"], 0)}
        self.views.append(("share", "input", vals["x"]))
        keep = None
        if cfg.nonlinear == "reveal_permuted" and j == 0 and p.pre != "identity":
            keep = ch.recv_shape((B, p.shapes["x"][0]), 0, torch.uint8).bool()
            self.views.append(("permuted_activation", "key_padding_mask", keep.float()))
        others = [r for r in range(lead, lead + k) if r != ch.rank]
        reshare_gen = torch.Generator().manual_seed(req.seed)
        transcript = hashlib.sha256()
        n_linear = 0
        op_s: dict[str, float] = {}
        for idx, op in enumerate(p.ops):
            t_op = time.perf_counter()
            if req.fault is not None and req.fault == (j, idx):
                raise RuntimeError(f"injected fault at op {idx} ({op.name})")
            if isinstance(op, Linear) and cfg.weights == "shared":
                vals[op.dst] = self._shared_linear(op, vals[op.src], B, j, others)
            elif isinstance(op, Linear | Conv):
                x = vals[op.src]
                y = linear_share(op, x, j)
                t = req.tamper
                if t is not None and t.node == j and group == 0 and t.layer == n_linear:
                    y = tampered(y, t, x, op, j, f, self.gen)
                if req.keep_linear:
                    self.linear_io.append((x, y))
                    transcript.update(x.numpy().tobytes())
                    transcript.update(y.numpy().tobytes())
                vals[op.dst] = y
                n_linear += 1
            elif isinstance(op, LOCAL_OPS):
                vals[op.dst] = run_local(op, vals, f)
            elif isinstance(op, Beaver):
                a, b, c = self.pool.take(op.name, B)
                tri = S.Triple(a, b, c)
                e, g = S.beaver_masked(vals[op.a], vals[op.b], tri)
                flat = torch.cat([e.reshape(-1), g.reshape(-1)])
                ch.round()
                got = ch.exchange({r: flat for r in others}, {r: tuple(flat.shape) for r in others})
                for r in others:
                    flat = flat + got[r]
                e_all, g_all = flat[: e.numel()].reshape(e.shape), flat[e.numel():].reshape(g.shape)
                self.views.append(("share", f"{op.name}.opened@node{j}", e_all))
                vals[op.dst] = S.beaver_product(e_all, g_all, tri, j)
            elif isinstance(op, Trunc):
                flat = torch.cat([vals[s].reshape(B, -1) for s in op.srcs], 1)
                if cfg.truncation == "dealer":
                    pair = S.TruncPair(*self.pool.take(op.name, B))
                    m = S.trunc_masked(flat, pair, j, cfg.trunc_bound_bits)
                    ch.round()
                    got = ch.exchange({r: m for r in others}, {r: tuple(m.shape) for r in others})
                    c = m + sum(got.values())  # uniform: r is uniform over the whole ring
                    self.views.append(("share", f"{op.name}.opened@node{j}", c))
                    out = S.trunc_finish(c, pair, j, f, cfg.trunc_bound_bits)
                else:
                    out = self._via_client(flat, tuple(flat.shape))
                    self.views.append(("share", op.name, out))
                at = 0
                for s in op.srcs:
                    n = vals[s][0].numel()
                    vals[s] = out[:, at : at + n].reshape(vals[s].shape)
                    at += n
            elif isinstance(op, NonLinear):
                x = vals[op.src]
                if cfg.nonlinear == "client":
                    y = self._via_client(x, shp[op.dst])
                elif j != 0:
                    y = self._to_peer(x, lead, shp[op.dst])
                else:
                    ch.round()
                    got = ch.exchange({}, {r: tuple(x.shape) for r in others})
                    opened = ring.decode(x + sum(got.values()), op.src_frac)
                    self.views.append(("permuted_activation", op.name, opened.float()))
                    real = apply_steps(opened, op.steps, keep)
                    parts = S.share(ring.encode(real, f), k, reshare_gen)
                    ch.round()
                    ch.exchange({r: parts[r - lead] for r in others}, {})
                    y = parts[0]
                if not (cfg.nonlinear == "reveal_permuted" and j == 0):
                    self.views.append(("share", op.name, y))
                vals[op.dst] = y
            elif isinstance(op, Output):
                ch.round()
                ch.send(vals[op.src], 0)
                output_digest = hashlib.sha256(vals[op.src].numpy().tobytes()).hexdigest()
            kind = type(op).__name__
            op_s[kind] = op_s.get(kind, 0.0) + time.perf_counter() - t_op
        stats = {**ch.traffic.as_dict(), "wall_s": time.perf_counter() - t0, "op_s": op_s,
                 "output_commitment": output_digest,
                 "transcript_commitment": transcript.hexdigest() if req.keep_linear else None}
        ch.send_object(stats, 0)


class ShareClient:
    """The client (rank 0): shares inputs, deals randomness, runs client-side steps, decodes."""

    def __init__(self, ch: Channel, program: Program, cfg: ProtocolConfig, pool_samples: int):
        self.ch, self.program, self.cfg = ch, program, cfg
        self.pool_samples = pool_samples
        self.gen = ring.csprng()
        #: One mask stream per node role 0..k-2 (the node holds the same seed): see ``_reshare``.
        self.mask_gens: list[torch.Generator] = []
        self.available = 0
        self.deal_s = 0.0
        self.deal_bytes = 0
        self.disagreements = 0
        self.weight_masks: dict[str, torch.Tensor] = {}
        self.last: dict[str, Any] = {}

    @property
    def node_ranks(self) -> list[int]:
        """Every node process: replica group g holds ranks 1 + g*k .. (g+1)*k."""
        return list(range(1, self.cfg.nodes * self.cfg.replicas + 1))

    def role(self, rank: int) -> int:
        return (rank - 1) % self.cfg.nodes

    def _to_groups(self, parts: list[torch.Tensor]) -> dict[int, torch.Tensor]:
        """The same share for role j in every replica group."""
        return {r: parts[self.role(r)] for r in self.node_ranks}

    def setup(self) -> None:
        shared = self.cfg.weights == "shared"
        nodes_program = self.program.for_nodes(strip_weights=shared)
        for r in self.node_ranks:
            self.ch.send_request(("program", (nodes_program, self.cfg)), r)
        if shared:
            self.share_weights()
        for j in range(self.cfg.nodes - 1):
            seed = secrets.randbits(63)
            self.mask_gens.append(torch.Generator().manual_seed(seed))
            for r in self.node_ranks:
                if self.role(r) == j:
                    self.ch.send_request(("mask_seed", seed), r)
        self.deal(self.pool_samples)

    def share_weights(self) -> None:
        """The model owner's setup for ``weights: shared``: mask B per layer, open W^T - B once."""
        per_node: list[dict[str, tuple]] = [{} for _ in range(self.cfg.nodes)]
        for op in self.program.ops:
            if not isinstance(op, Linear):
                continue
            w_t = op.weight.T.contiguous()
            b = ring.uniform(tuple(w_t.shape), self.gen)
            self.weight_masks[op.name] = b
            f_pub = w_t - b
            b_parts = S.share(b, self.cfg.nodes, self.gen)
            bias_parts = (S.share(op.bias, self.cfg.nodes, self.gen) if op.bias is not None
                          else [None] * self.cfg.nodes)
            for j in range(self.cfg.nodes):
                per_node[j][op.name] = (b_parts[j], f_pub, bias_parts[j])
        for r in self.node_ranks:
            self.ch.send_request(("weight_shares", per_node[self.role(r)]), r)

    def deal(self, samples: int) -> None:
        if samples <= 0 or not dealt_shapes(self.program, self.cfg):
            self.available = 1 << 30
            return
        t0 = time.perf_counter()
        sent = self.ch.traffic.bytes_sent
        parts = deal(self.program, self.cfg, samples, self.gen, self.weight_masks)
        for r in self.node_ranks:
            self.ch.send_request(("deal", parts[self.role(r)]), r)
        self.available += samples
        self.deal_s += time.perf_counter() - t0
        self.deal_bytes += self.ch.traffic.bytes_sent - sent

    def _gather(self, shape: tuple[int, ...]) -> torch.Tensor:
        got = self.ch.exchange({}, {r: shape for r in self.node_ranks})
        k = self.cfg.nodes
        for r in self.node_ranks[k:]:  # consensus: replicas must send bit-identical shares
            if not torch.equal(got[r], got[1 + self.role(r)]):
                self.disagreements += 1
        return S.reconstruct([got[r] for r in self.node_ranks[:k]])

    def _masks(self, shape: tuple[int, ...]) -> list[torch.Tensor]:
        """The next re-share masks of node0..k-2 (drawn before the shares arrive, while the client
        would otherwise wait: the same streams in the same order, off the critical path)."""
        return [ring.uniform(shape, g) for g in self.mask_gens]

    def _reshare(self, x: torch.Tensor, masks: list[torch.Tensor]) -> None:
        """Re-share x: the masks of node0..k-2 come from the seeded streams they hold too (nothing
        sent), node k-1 gets x minus their sum: one message instead of k."""
        last = x - sum(masks) if masks else x
        k = self.cfg.nodes
        self.ch.exchange({r: last for r in self.node_ranks if self.role(r) == k - 1}, {})

    def infer(self, x: Any, req: InferRequest) -> torch.Tensor:
        # The client's steps are small element-wise ops between rounds: one thread (as each node
        # has), since intra-op threads only contend with the node processes for the cores.
        with torch_threads(1):
            return self._infer(x, req)

    def _infer(self, x: Any, req: InferRequest) -> torch.Tensor:
        p, cfg, ch = self.program, self.cfg, self.ch
        f, B = cfg.frac_bits, req.batch
        online_deal_s = 0.0
        if self.available < B:
            before = self.deal_s
            self.deal(max(self.pool_samples, B))
            online_deal_s = self.deal_s - before
        self.available -= B
        ch.traffic = Traffic()
        self.disagreements = 0
        client_s = 0.0
        t0 = time.perf_counter()
        ch.send_requests(("infer", req), self.node_ranks)
        header = ch.traffic.bytes_sent
        real, keep = client_input(p, x)
        parts = S.share(ring.encode(real, f), cfg.nodes, self.gen)
        client_s += time.perf_counter() - t0
        ch.round()
        ch.exchange(self._to_groups(parts), {})
        if keep is not None and cfg.nonlinear == "reveal_permuted":
            for g in range(cfg.replicas):
                ch.send(keep.to(torch.uint8), 1 + g * cfg.nodes)
        shp = {name: (B, *s) for name, s in p.shapes.items()}
        out = None
        for op in p.ops:
            if isinstance(op, NonLinear) and cfg.nonlinear == "client":
                masks = self._masks(shp[op.dst])
                ch.round()
                opened = self._gather(shp[op.src])
                t1 = time.perf_counter()
                y = ring.encode(apply_steps(ring.decode(opened, op.src_frac), op.steps, keep), f)
                client_s += time.perf_counter() - t1
                ch.round()
                self._reshare(y, masks)
            elif isinstance(op, Trunc) and cfg.truncation == "client":
                n = sum(_numel(p.shapes[s]) for s in op.srcs)
                masks = self._masks((B, n))
                ch.round()
                opened = self._gather((B, n))
                t1 = time.perf_counter()
                y = opened >> f
                client_s += time.perf_counter() - t1
                ch.round()
                self._reshare(y, masks)
            elif isinstance(op, Output):
                ch.round()
                out = ring.decode(self._gather(shp[op.src]), op.src_frac)
        node_stats = [ch.recv_object(r) for r in self.node_ranks]
        for r in self.node_ranks[cfg.nodes:]:
            if node_stats[r - 1]["output_commitment"] != node_stats[self.role(r)]["output_commitment"]:
                self.disagreements += 1
        self.last = {"client": {**ch.traffic.as_dict(), "header_bytes": header, "client_s": client_s,
                                "online_deal_s": online_deal_s, "wall_s": time.perf_counter() - t0},
                     "nodes": node_stats, "disagreements": self.disagreements}
        if out is None:
            raise RuntimeError("program produced no output")
        return out

    def _ask_every_node(self, request: str, ranks: list[int] | None = None) -> list[Any]:
        out = []
        for r in self.node_ranks if ranks is None else ranks:
            self.ch.send_request((request, None), r)
            out.append(self.ch.recv_object(r))
        return out

    def node_views(self) -> list[list[tuple[str, str, Any]]]:
        """Group 0's views: a replica of node j receives exactly node j's messages (the consensus
        check compares them), so its view is node j's and is not fetched or attacked twice."""
        return self._ask_every_node("views", self.node_ranks[: self.cfg.nodes])

    def linear_io(self) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        return self._ask_every_node("linear_io")

    def stop(self) -> None:
        for r in self.node_ranks:
            self.ch.send_request(("stop", None), r)
