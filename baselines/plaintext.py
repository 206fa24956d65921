"""Plaintext inference on one untrusted node: the cost floor and the leakage ceiling."""

from __future__ import annotations

from typing import Any

import torch

from nesabench.pipeline import PartyView
from nesabench.workloads.workload import Workload


class PlaintextPipeline:
    """The node receives the raw input and the weights, and returns the output in the clear.

    Techniques whose inference is plaintext on the node (DP-SGD, input DP) subclass it: they change
    what model the node holds (``prepare``) or what input it is sent (``infer``), not what it sees.
    """

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

    def input_meta(self) -> dict[str, Any]:
        """What the node is told about the input it receives (subclasses add their mechanism)."""
        return {}

    def views(self) -> list[PartyView]:
        if self._last is None:
            return []
        x, y = self._last
        return [
            PartyView(party="node", kind="plain_input", layer="input", payload=x,
                      meta={"weights": "plain", **self.input_meta()}),
            PartyView(party="node", kind="output", layer="output", payload=y.detach(),
                      received=False),
        ]
