"""The full Nesa hybrid: EE + secret-shared nodes + verification that catches a cheating node.

On top of ``nesa_hss``: every node commits (SHA-256) to its linear layers' input/output shares
and to its output share; ``replicas`` copies of the k-node group get identical messages, so honest
replicas send bit-identical shares and commitments (consensus); the verifier (the client) opens
group 0's transcripts, checks them against the commitments, and runs Freivalds checks of every
linear layer on every node's shares. A cheating node (``tamper``) corrupts its share of one random
linear layer: noise, one flipped element, a skipped layer (zeros) or stale weights.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import torch

from nesabench.hybrid import freivalds, ring
from nesabench.hybrid.commitments import transcript_commitment
from nesabench.hybrid.nesa_hss import NesaHSSPipeline
from nesabench.hybrid.program import Conv, Linear
from nesabench.hybrid.protocol import TAMPER_MODES, InferRequest, Tamper
from nesabench.pipeline import PartyView, Unsupported, VerifyResult


@dataclass
class TamperConfig:
    """How the cheating node behaves in each tamper case the harness runs."""

    probability: float = 1.0
    magnitude: float = 0.01
    mode: str | list[str] = "all"
    #: Which node cheats (index in the group); null = a random one per case.
    node: int | None = None
    #: Cases per mode (the detection rate is over all of them).
    trials: int = 5

    @property
    def modes(self) -> list[str]:
        modes = list(TAMPER_MODES) if self.mode == "all" else (
            [self.mode] if isinstance(self.mode, str) else list(self.mode))
        bad = [m for m in modes if m not in TAMPER_MODES]
        if bad:
            raise ValueError(f"tamper.mode {bad} unknown; accepted: {', '.join(TAMPER_MODES)} or 'all'")
        return modes

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"tamper.probability must be in [0, 1], got {self.probability}")
        if self.trials < 1:
            raise ValueError(f"tamper.trials must be >= 1, got {self.trials}")
        _ = self.modes


class NesaHybridPipeline(NesaHSSPipeline):
    """nesa_hss plus Freivalds checks, replicated execution with commitments, and tamper cases."""

    def __init__(self, replicas: int = 2, freivalds_rounds: int = 16, honest_trials: int = 5,
                 tamper: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.cfg.replicas = int(replicas)
        self.cfg.__post_init__()
        self.rounds = int(freivalds_rounds)
        if self.rounds < 1:
            raise ValueError(f"freivalds_rounds must be >= 1, got {freivalds_rounds}")
        self.honest_trials = int(honest_trials)
        self.tamper = TamperConfig(**(tamper or {}))
        self.tamper_cases = [f"{m}#{i}" for m in self.tamper.modes for i in range(self.tamper.trials)]
        self.checks: list[freivalds.LayerCheck] = []
        self.gen = ring.csprng()
        self.last_x: torch.Tensor | None = None
        self.outcomes: dict[str, list[bool]] = {}
        self.verify_times: list[float] = []
        self.verify_bytes: list[int] = []

    def check(self, workload: Any) -> None:
        if self.weights == "shared":
            raise Unsupported("nesa_hybrid checks each node's linear layers with Freivalds against public "
                              "(EE-permuted) weights; with weights: shared the node's share of W is not "
                              "public, and checking Beaver-based layers is not built")
        super().check(workload)

    def prepare(self, workload: Any) -> None:
        super().prepare(workload)
        assert self.program is not None
        linear = [op for op in self.program.ops if isinstance(op, Linear | Conv)]
        self.checks = freivalds.prepare_checks(linear, self.rounds, self.gen)

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        self.last_x = x
        return self.run(x, InferRequest(batch=len(x), fault=self.fault, keep_linear=True))

    def views(self) -> list[PartyView]:
        """The nodes' views, plus the commitments the verifier received for the last call."""
        out = super().views()
        if self.client is not None and self.client.last:
            for j, stats in enumerate(self.client.last["nodes"][: self.cfg.nodes]):
                for what in ("transcript_commitment", "output_commitment"):
                    if stats.get(what):
                        digest = bytes.fromhex(stats[what])
                        out.append(PartyView("verifier", "proof", f"{what}.node{j}", digest))
        return out

    # -- verification ------------------------------------------------------------------------
    def _check_last(self) -> tuple[bool, str]:
        """Consensus among replicas, transcripts vs commitments, Freivalds on every layer/node."""
        assert self.client is not None and self.cluster is not None
        last = self.client.last
        problems = []
        if last.get("disagreements"):
            problems.append(f"replicas disagree on {last['disagreements']} messages")
        transcripts = self.on_nodes(self.client.linear_io)
        k = self.cfg.nodes
        nbytes = 0
        for j in range(k):
            io = transcripts[j]
            nbytes += sum(t.numel() * 8 for pair in io for t in pair)
            committed = last["nodes"][j]["transcript_commitment"]
            if transcript_commitment(io) != committed:
                problems.append(f"node{j} transcript does not match its commitment")
                continue
            if len(io) != len(self.checks):
                problems.append(f"node{j} reported {len(io)} linear layers, expected {len(self.checks)}")
                continue
            for c, (x, y) in zip(self.checks, io, strict=True):
                if not freivalds.check(c, x, y, j, self.rounds, self.gen):
                    problems.append(f"node{j} fails Freivalds on {c.op.name}")
        self.verify_bytes.append(nbytes)
        return not problems, "; ".join(problems) or "all checks pass"

    def _draw_tamper(self, mode: str) -> Tamper | None:
        if secrets.randbelow(10**9) >= round(self.tamper.probability * 10**9):
            return None
        node = self.tamper.node if self.tamper.node is not None else secrets.randbelow(self.cfg.nodes)
        return Tamper(node=int(node), mode=mode, magnitude=float(self.tamper.magnitude),
                      layer=secrets.randbelow(len(self.checks)))

    def verify(self, tamper: str | None = None) -> VerifyResult:
        if self.last_x is None:
            raise RuntimeError("verify() needs an infer() call first")
        t0 = time.perf_counter()
        if tamper is None:
            ok, detail = self._check_last()
            seconds = time.perf_counter() - t0
            self.verify_times.append(seconds)
            return VerifyResult(ok, None, seconds, detail)
        mode = tamper.split("#")[0]
        if mode not in TAMPER_MODES:
            raise ValueError(f"unknown tamper case {tamper!r}; accepted: {', '.join(self.tamper_cases)}")
        t = self._draw_tamper(mode)
        self.run(self.last_x, InferRequest(batch=len(self.last_x), tamper=t, keep_linear=True))
        t1 = time.perf_counter()
        ok, detail = self._check_last()
        self.outcomes.setdefault(mode, []).append(not ok)
        where = "no tampering drawn" if t is None else f"node{t.node} {t.mode} at linear layer {t.layer}"
        return VerifyResult(ok, tamper, time.perf_counter() - t1, f"{where}: {detail}")

    def metrics(self) -> dict[str, Any]:
        out = super().metrics()
        if self.last_x is None:
            return out
        alarms = 0
        for _ in range(self.honest_trials):
            self.run(self.last_x, InferRequest(batch=len(self.last_x), keep_linear=True))
            ok, _ = self._check_last()
            alarms += not ok
        lat = [c["latency_s"] for c in self._calls]
        verify_s = sum(self.verify_times) / max(1, len(self.verify_times))
        out.update({
            "replicas": self.cfg.replicas,
            "freivalds_rounds": self.rounds,
            "freivalds_false_accept_bound": freivalds.false_accept_bound(self.rounds),
            "false_alarm_rate": alarms / self.honest_trials if self.honest_trials else None,
            "honest_trials": self.honest_trials,
            "verify_bytes": round(sum(self.verify_bytes) / max(1, len(self.verify_bytes))),
            "verify_overhead_fraction": verify_s / (sorted(lat)[len(lat) // 2] if lat else float("nan")),
            "tamper.probability": self.tamper.probability,
            "tamper.magnitude": self.tamper.magnitude,
        })
        for mode, hits in self.outcomes.items():
            out[f"tamper_detection_rate.{mode}"] = sum(hits) / len(hits)
        return out
