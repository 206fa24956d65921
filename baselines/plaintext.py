"""Plaintext inference on one untrusted node: the cost floor and the leakage ceiling."""

from __future__ import annotations

import torch

from nesabench.pipeline import PartyView
from nesabench.workloads.workload import Workload


class PlaintextPipeline:
    """The node receives the raw input and the weights, and returns the output in the clear."""

    def __init__(self) -> None:
        self._model: torch.nn.Module | None = None
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def check(self, workload: Workload) -> None:
        """Anything torch runs, plaintext runs."""

    def prepare(self, workload: Workload) -> None:
        self._model = workload.copy_model()

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        y = self._model(x)
        self._last = (x, y)
        return y

    def views(self) -> list[PartyView]:
        if self._last is None:
            return []
        x, y = self._last
        return [
            PartyView(party="node", kind="plain_input", layer="input", payload=x),
            PartyView(party="node", kind="output", layer="output", payload=y.detach(),
                      received=False),
        ]
