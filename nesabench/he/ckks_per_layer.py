"""Per-layer measured mode of client-aided CKKS: the first layers encrypted, their cost x the layer count.

A deep model (MiniLM: 6 layers, ~8.4k encrypted-matrix products per layer) runs its first
``encrypted`` encoder layers and the head as encrypted rounds; the other layers run the same
client-aided walk with plaintext linear layers, so the outputs come from a real forward pass with CKKS
error only where encryption ran. Every encoder layer does the same work on the same shapes, so one
inference costs the measured encrypted layer (mean) times the layer count, plus the measured rest
(embeddings, pooling, the head round): a measured per-layer figure, not an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from nesabench.he.ckks_client_aided import layer_index
from nesabench.he.layer_scaled_cost import LayerScaledCost


@dataclass
class RoundMark:
    """One round of a sample: when it started, whether it ran encrypted, and its bytes each way."""

    name: str
    start: float
    encrypted: bool
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass
class SampleCost(LayerScaledCost):
    """One sample's measured parts: each encrypted layer, and the rest (embeddings, pooling, head)."""


def sample_cost(marks: list[RoundMark], start: float, end: float, layers: int) -> SampleCost:
    """Split one sample's wall time at the rounds: layer i runs from its first round to layer i+1's.

    A layer's time so includes the client's steps after its rounds (attention, LayerNorm, GELU).
    """
    first: dict[int, float] = {}
    encrypted: dict[int, set[bool]] = {}
    heads = [m for m in marks if layer_index(m.name) is None]
    for m in marks:
        i = layer_index(m.name)
        if i is not None:
            first.setdefault(i, m.start)
            encrypted.setdefault(i, set()).add(m.encrypted)
    if len(heads) != 1 or sorted(first) != list(range(layers)):
        names = [m.name for m in marks]
        raise ValueError(f"rounds do not cover layers 0..{layers - 1} and one head: {names!r:.200}")
    if any(len(e) != 1 for e in encrypted.values()) or not heads[0].encrypted:
        raise ValueError("each layer's rounds (and the head) must all be encrypted or all plaintext")
    enc = [i for i in range(layers) if True in encrypted[i]]
    if not enc or enc != list(range(len(enc))):
        raise ValueError(f"the encrypted layers must be the first ones, got {enc}")
    bounds = [first[i] for i in range(layers)] + [heads[0].start]

    def of(i: int) -> list[RoundMark]:
        return [m for m in marks if layer_index(m.name) == i]

    return SampleCost(
        layers=layers,
        layer_s=[bounds[i + 1] - bounds[i] for i in enc],
        layer_bytes_up=[sum(m.bytes_up for m in of(i)) for i in enc],
        layer_bytes_down=[sum(m.bytes_down for m in of(i)) for i in enc],
        layer_rounds=[len(of(i)) for i in enc],
        rest_s=(bounds[0] - start) + (end - heads[0].start),
        rest_bytes_up=heads[0].bytes_up,
        rest_bytes_down=heads[0].bytes_down,
        rest_rounds=1,
    )
