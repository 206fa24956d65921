"""Nesa HSS-EE: the EE-transformed input in additive shares across k node processes.

The client applies EE (``nesabench.hybrid.ee``) to the model and the input, secret-shares the
input over Z_2^64 among the nodes (separate processes joined by torch.distributed/gloo), the nodes
run linear layers locally on their shares with the EE-permuted weights, products of two shared
tensors use Beaver triples from the dealer (the client), and non-linear steps go to the client or
to node0 as configured. See docs/hss.md for the protocol and what each party sees.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from nesabench.hybrid.nodes import DEFAULT_TIMEOUT_S, NodeCluster
from nesabench.hybrid.program import ATTENTION_MODES, Conv, Program, Trunc, compile_model, run_plain
from nesabench.hybrid.protocol import InferRequest, ProtocolConfig, ShareClient
from nesabench.pipeline import PartyView, Unsupported

log = logging.getLogger(__name__)
T = TypeVar("T")

WEIGHT_MODES = ("permuted",)
VIEW_MODES = ("all", "inputs")


def resolve_attention(attention: str, nonlinear: str) -> str:
    """``auto``: the whole attention goes to the client when it already runs every non-linear step
    (the nodes see nothing more: only shares; 2 node rounds fewer per layer), Beaver products when
    node0 would run it (so node0 never sees Q, K, V)."""
    if attention == "auto":
        return "client" if nonlinear == "client" else "beaver"
    if attention not in ATTENTION_MODES:
        raise ValueError(f"attention must be 'auto' or one of {ATTENTION_MODES}, got {attention!r}")
    return attention


class EEAdapter:
    """The EE layer (nesabench.hybrid.ee), or the identity when ``ee: false``.

    Token models are folded with ``client_embeds``: the client runs the (folded) embedding block
    and shares the permuted hidden states, since a table lookup on shared ids is not linear.
    """

    def __init__(self, enabled: bool, variant: str):
        self.enabled, self.variant = enabled, variant
        self.key: Any = None

    def prepare(self, model: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
        if not self.enabled:
            return model
        from nesabench.hybrid import ee, keys

        self.key = keys.draw_key(self.variant)
        try:
            return ee.encrypt_model(model, self.key, example=example, client_embeds=True)
        except ee.UnsupportedLayer as err:
            raise Unsupported(f"EE cannot fold this model: {err}") from err

    def encrypt(self, x: torch.Tensor) -> Any:
        if not self.enabled:
            return x
        from nesabench.hybrid import ee

        return ee.encrypt_input(x, self.key)

    def decrypt(self, y: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return y
        from nesabench.hybrid import ee

        return ee.decrypt_output(y, self.key)

    def describe(self) -> dict[str, Any]:
        return {"ee": self.enabled, **(self.key.describe() if self.key is not None else {})}


class NesaHSSPipeline:
    """Secret-shared inference across ``nodes`` processes, with EE applied first."""

    def __init__(self, nodes: int = 2, nonlinear: str = "client", weights: str = "permuted",
                 truncation: str = "dealer", attention: str = "auto", frac_bits: int = 16,
                 trunc_bound_bits: int = 46,
                 ee: bool = True, ee_variant: str = "b", pool_samples: int = 64, views: str = "all",
                 master_addr: str = "127.0.0.1", master_port: int = 0, launch: str = "local",
                 timeout_s: float = DEFAULT_TIMEOUT_S, max_eval_samples: int | None = None,
                 fault: list[int] | None = None):
        self.cfg = ProtocolConfig(nodes=int(nodes), nonlinear=nonlinear, truncation=truncation,
                                  frac_bits=int(frac_bits), trunc_bound_bits=int(trunc_bound_bits),
                                  weights=weights)
        if views not in VIEW_MODES:
            raise ValueError(f"views must be one of {VIEW_MODES}, got {views!r}")
        if int(nodes) < 2:
            raise ValueError(f"nodes must be >= 2, got {nodes}")
        self.weights, self.view_mode = weights, views
        self.attention = resolve_attention(attention, nonlinear)
        self.ee = EEAdapter(bool(ee), ee_variant)
        self.pool_samples = int(pool_samples)
        self.cluster_args = {"master_addr": master_addr, "master_port": int(master_port), "launch": launch,
                             "timeout_s": float(timeout_s)}
        self.max_eval_samples = max_eval_samples
        self.fault = tuple(fault) if fault is not None else None
        self.cluster: NodeCluster | None = None
        self.client: ShareClient | None = None
        self.program: Program | None = None
        self._views: list[PartyView] = []
        self._calls: list[dict[str, Any]] = []
        self.setup_traffic: dict[str, int] = {}

    # -- seam --------------------------------------------------------------------------------
    def check(self, workload: Any) -> None:
        try:
            program = compile_model(workload.model, self.cfg.frac_bits, self.attention)
        except ValueError as err:
            raise Unsupported(str(err)) from err
        if self.weights == "shared" and any(isinstance(op, Conv) for op in program.ops):
            raise Unsupported("weights: shared covers linear layers only; a convolution with shared weights "
                              "(im2col on shares, then a Beaver product) is not built")

    def prepare(self, workload: Any) -> None:
        example = workload.dataset.x_test[:2]
        model = self.ee.prepare(workload.copy_model().eval(), example)
        try:
            program = compile_model(model, self.cfg.frac_bits, self.attention)
        except ValueError as err:
            raise Unsupported(str(err)) from err
        with torch.no_grad():
            run_plain(program, self.ee.encrypt(example))  # every value's shape
        self.program = program
        self.close()
        self.cluster = NodeCluster(self.cfg.nodes * self.cfg.replicas, **self.cluster_args)
        self.cluster.start()
        self.client = ShareClient(self.cluster.channel, program, self.cfg, self.pool_samples)
        self.on_nodes(self.client.setup)
        self.setup_traffic = {"setup_bytes_sent_client": self.cluster.channel.traffic.bytes_sent,
                              "dealer_bytes_per_sample": round(self.client.deal_bytes
                                                                 / max(1, self.pool_samples)),
                              "dealer_s_per_sample": self.client.deal_s / max(1, self.pool_samples)}

    def run(self, x: torch.Tensor, req: InferRequest) -> torch.Tensor:
        if self.client is None or self.cluster is None:
            raise RuntimeError("prepare() must run before infer()")
        t0 = time.perf_counter()
        xe = self.ee.encrypt(x)
        req.seed = secrets.randbits(63)
        out = self.on_nodes(lambda: self.client.infer(xe, req))
        y = self.ee.decrypt(out.float())
        self._calls.append({**self.client.last, "batch": len(x), "latency_s": time.perf_counter() - t0})
        self._views = []
        return y

    def on_nodes(self, step: Callable[[], T]) -> T:
        """Run a step that talks to the nodes; a failure becomes the node's own error, all torn down."""
        assert self.cluster is not None
        try:
            return step()
        except Exception as err:
            raise self.cluster.fail(err) from err

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, InferRequest(batch=len(x), fault=self.fault))

    def views(self) -> list[PartyView]:
        if self.client is None or self.cluster is None:
            return []
        per_node = self.on_nodes(self.client.node_views)
        out = []
        k = self.cfg.nodes
        for i, items in enumerate(per_node[:k]):  # replicas see node j's very bytes (see node_views)
            party = f"node{i}"
            for kind, layer, payload in items:
                if self.view_mode == "inputs" and layer != "input" and kind == "share":
                    continue
                out.append(PartyView(party, kind, layer, payload,
                                     meta={"frac_bits": self.cfg.frac_bits, "weights": self.weights}))
        return out

    @property
    def mode(self) -> str:
        """The table cell's short mode string, e.g. "2 nodes, client non-linear, client attention"."""
        return (f"{self.cfg.nodes} nodes, {self.cfg.nonlinear} non-linear, {self.attention} attention, "
                f"{self.weights} weights")

    def metrics(self) -> dict[str, Any]:
        if not self._calls or self.program is None:
            return {}
        calls = self._calls
        per_sample = sum(c["batch"] for c in calls)
        out: dict[str, Any] = {"nodes": self.cfg.nodes, **self.setup_traffic, **self.ee.describe(),
                               "mode": self.mode, "attention": self.attention}
        node_keys = [f"node{j}" for j in range(self.cfg.nodes)]
        for j, name in enumerate(node_keys):
            out[f"bytes_sent.{name}"] = round(sum(c["nodes"][j]["bytes_sent"] for c in calls) / len(calls))
            out[f"bytes_recv.{name}"] = round(sum(c["nodes"][j]["bytes_recv"] for c in calls) / len(calls))
            out[f"rounds.{name}"] = round(sum(c["nodes"][j]["rounds"] for c in calls) / len(calls))
        out["bytes_sent.client"] = round(sum(c["client"]["bytes_sent"] for c in calls) / len(calls))
        out["bytes_recv.client"] = round(sum(c["client"]["bytes_recv"] for c in calls) / len(calls))
        out["rounds.client"] = round(sum(c["client"]["rounds"] for c in calls) / len(calls))
        # Every byte on the wire once: what each party sent (replicas included).
        total = sum(c["client"]["bytes_sent"] + sum(n["bytes_sent"] for n in c["nodes"]) for c in calls)
        out["bytes_per_inference"] = round(total / len(calls))
        out["bytes_per_sample"] = round(total / per_sample)
        out["rounds_per_inference"] = max(out[f"rounds.{n}"] for n in [*node_keys, "client"])
        out["client_s"] = sum(c["client"]["client_s"] for c in calls) / len(calls)
        out["client_time_fraction"] = sum(c["client"]["client_s"] for c in calls) / max(
            1e-12, sum(c["client"]["wall_s"] for c in calls))
        lin, nl = self.program.linear_flops(), self.program.nonlinear_flops()
        client = nl if self.cfg.nonlinear == "client" else 0.0
        out["client_flops_fraction"] = client / (lin + nl)
        out["online_deal_s"] = sum(c["client"]["online_deal_s"] for c in calls)
        out["linear_flops_per_sample"] = lin
        out["truncations"] = sum(isinstance(op, Trunc) for op in self.program.ops)
        return out

    def close(self) -> None:
        if self.cluster is not None:
            try:
                if self.client is not None and self.cluster.store is not None:
                    self.client.stop()
            except Exception:
                pass
            self.cluster.close()
        self.cluster = self.client = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
