"""A per-layer measured cost: one (or a few) layers measured encrypted, scaled to the model's depth.

Shared by the CKKS and TFHE per-layer modes, so "measured per layer x N" means the same arithmetic
in both: the mean measured layer times the layer count, plus the measured rest."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LayerScaledCost:
    """Each measured encrypted layer's time, bytes and rounds, and the measured rest."""

    layers: int
    layer_s: list[float]
    layer_bytes_up: list[int]
    layer_bytes_down: list[int]
    layer_rounds: list[int]
    rest_s: float
    rest_bytes_up: int
    rest_bytes_down: int
    rest_rounds: int

    def _scaled(self, per_layer: list[float] | list[int], rest: float) -> float:
        return sum(per_layer) / len(per_layer) * self.layers + rest

    @property
    def latency_s(self) -> float:
        """Measured encrypted layer (mean) x layers + measured rest."""
        return self._scaled(self.layer_s, self.rest_s)

    @property
    def bytes_up(self) -> float:
        return self._scaled(self.layer_bytes_up, self.rest_bytes_up)

    @property
    def bytes_down(self) -> float:
        return self._scaled(self.layer_bytes_down, self.rest_bytes_down)

    @property
    def rounds(self) -> float:
        return self._scaled(self.layer_rounds, self.rest_rounds)
