"""Techniques that misbehave on purpose, to test that the harness records instead of crashing."""

from __future__ import annotations

import torch

from nesabench.pipeline import PartyView, Unsupported


class ExplodingPipeline:
    """Fails in prepare, as a buggy or mis-configured technique would."""

    def check(self, workload) -> None:
        pass

    def prepare(self, workload) -> None:
        raise RuntimeError("boom in prepare")

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("infer must not be reached")

    def views(self) -> list[PartyView]:
        return []


class RefusingPipeline(ExplodingPipeline):
    """Declines the workload, with an extrapolated latency."""

    def __init__(self, estimated_latency_s: float = 12.5):
        self.estimated_latency_s = estimated_latency_s

    def check(self, workload) -> None:
        raise Unsupported("softmax is out of reach", estimate={"latency_p50_s": self.estimated_latency_s})
