"""Per-layer measured mode of the TFHE hybrid: the first encoder layers in FHE, x the layer count.

A deep transformer (MiniLM: 6 encoder layers, 36 linear layers, ~28 M encrypted multiply-accumulates
per layer) runs the linear layers of its first ``fhe_layers`` encoder layers and of the head as real
TFHE rounds (client encrypts, node evaluates, client decrypts); the linear layers of the other
encoder layers run in the clear on the client, so the outputs come from a real forward pass with
FHE quantization only where FHE ran. Every encoder layer does the same work on the same shapes, so
one inference costs the measured FHE layer (mean, wall time from its entry to its exit, client steps
included) times the layer count, plus the measured rest (embeddings, pooling, the head round): a
measured per-layer figure, not an estimate. Bytes and rounds scale the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from torch import nn

from nesabench.he.layer_scaled_cost import LayerScaledCost


def encoder_layer_of(name: str) -> str | None:
    """The repeated block a linear layer sits in (``encoder.layer.3.attention.self.query`` ->
    ``encoder.layer.3``; ``blocks.0.ff1`` -> ``blocks.0``); None outside any (``head``)."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return None


@dataclass
class LayerSplit:
    """Which linear layers run in FHE: those of the first ``fhe_layers`` encoder layers and the rest."""

    layers: list[str]  # encoder layer prefixes, in model order
    fhe_layers: int
    names: list[str]  # the linear layers compiled to FHE (the first layers' and the head's)

    @property
    def per_layer(self) -> bool:
        return self.fhe_layers < len(self.layers)

    def layer_of(self, name: str) -> str | None:
        return encoder_layer_of(name)


def split_layers(linear_names: list[str], fhe_layers: int | None) -> LayerSplit:
    """Choose the FHE linear layers; ``fhe_layers`` None means every encoder layer.

    Per layer x N is only a measurement when the layers are alike: each must hold the same linear
    layers (relative names), else a clear error.
    """
    layers: list[str] = []
    suffixes: dict[str, list[str]] = {}
    for n in linear_names:
        prefix = encoder_layer_of(n)
        if prefix is None:
            continue
        if prefix not in suffixes:
            layers.append(prefix)
            suffixes[prefix] = []
        suffixes[prefix].append(n[len(prefix) + 1:])
    k = len(layers) if fhe_layers is None else min(int(fhe_layers), len(layers))
    if k < len(layers) and len({tuple(s) for s in suffixes.values()}) != 1:
        raise ValueError(f"fhe_layers={fhe_layers}: the encoder layers differ in their linear layers "
                         f"({ {p: s for p, s in suffixes.items()} }), so one cannot stand for all; "
                         "use fhe_layers: all")
    chosen = set(layers[:k])
    names = [n for n in linear_names if encoder_layer_of(n) is None or encoder_layer_of(n) in chosen]
    return LayerSplit(layers=layers, fhe_layers=k, names=names)


@dataclass
class CallCost(LayerScaledCost):
    """One infer call's measured parts: each FHE encoder layer's wall time and bytes, and the rest."""

    samples: int
    wall_s: float


@dataclass
class LayerClock:
    """Forward hooks on the encoder layers: wall time from each layer's entry to its exit."""

    spans: dict[str, float] = field(default_factory=dict)
    _open: dict[str, float] = field(default_factory=dict)
    _handles: list = field(default_factory=list)

    def attach(self, model: nn.Module, layers: list[str]) -> None:
        modules = dict(model.named_modules())
        for prefix in layers:
            module = modules[prefix]
            self._handles.append(module.register_forward_pre_hook(self._enter(prefix)))
            self._handles.append(module.register_forward_hook(self._exit(prefix)))

    def _enter(self, prefix: str):
        def hook(_module, _inputs):
            self._open[prefix] = time.perf_counter()

        return hook

    def _exit(self, prefix: str):
        def hook(_module, _inputs, _out):
            self.spans[prefix] = self.spans.get(prefix, 0.0) + time.perf_counter() - self._open.pop(prefix)

        return hook

    def start(self) -> None:
        self.spans, self._open = {}, {}

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def call_cost(split: LayerSplit, spans: dict[str, float], traffic: dict, wall_s: float,
              samples: int) -> CallCost:
    """Scale one call: the FHE layers' spans and bytes (per layer) and the rest (wall minus all layers).

    ``traffic`` maps a linear layer name to its LayerTraffic of this call.
    """
    if sorted(spans) != sorted(split.layers):
        raise ValueError(f"timed layers {sorted(spans)} differ from the encoder layers {split.layers}")
    fhe = split.layers[: split.fhe_layers]

    def of(prefix: str | None, attr: str) -> int:
        return sum(getattr(t, attr) for n, t in traffic.items() if encoder_layer_of(n) == prefix)

    def rounds(prefix: str | None) -> int:
        return sum(1 for n in traffic if encoder_layer_of(n) == prefix)

    if any(rounds(p) == 0 for p in fhe):
        raise ValueError(f"an FHE layer ran no FHE round: {[p for p in fhe if rounds(p) == 0]}")
    return CallCost(
        layers=len(split.layers),
        layer_s=[spans[p] for p in fhe],
        layer_bytes_up=[of(p, "up_bytes") for p in fhe],
        layer_bytes_down=[of(p, "down_bytes") for p in fhe],
        layer_rounds=[rounds(p) for p in fhe],
        rest_s=wall_s - sum(spans.values()),
        rest_bytes_up=of(None, "up_bytes"),
        rest_bytes_down=of(None, "down_bytes"),
        rest_rounds=rounds(None),
        samples=samples,
        wall_s=wall_s,
    )
