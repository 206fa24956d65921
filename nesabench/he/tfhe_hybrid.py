"""Concrete ML's hybrid model, the way Zama runs LLMs: linear layers in FHE, the rest on the client.

``HybridFHEModel`` (concrete.ml.torch.hybrid_model) replaces each named module by a
``RemoteModule`` and compiles it with ``compile_torch_model`` on the inputs it saw during
calibration; everything else (embeddings, LayerNorm, softmax and the attention products, GELU,
pooling) stays a torch module run by the client in the clear. Its own ``execute`` mode runs the
layers in process without separating the parties; here a ``RemoteModule`` delegates to
``HybridWire`` instead (the executor hook Concrete ML gives its GLWE backend), which puts one
``TFHEClient`` (secret keys) and one ``TFHENode`` (evaluation keys only) around each layer's
circuit and passes serialized ciphertexts between them: one round per layer call, every byte counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from nesabench.he.tfhe_parties import TFHEClient, TFHENode


def used_linear_layers(model: nn.Module, sample: torch.Tensor) -> list[str]:
    """Names of the ``nn.Linear`` modules the output depends on (an unused pooler is left out).

    Found with one backward pass: a layer is used when its output receives a gradient.
    """
    outs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_module, _inputs, out):
            if not out.requires_grad:
                out = out.detach().requires_grad_(True)
            out.retain_grad()
            outs[name] = out
            return out

        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    try:
        with torch.enable_grad():
            model(sample).float().sum().backward()
    finally:
        for h in handles:
            h.remove()
    model.zero_grad(set_to_none=True)
    return [n for n, o in outs.items() if o.grad is not None and bool(o.grad.abs().sum() > 0)]


@dataclass
class WireStats:
    """Per-inference traffic and time of the hybrid's FHE rounds (sums over samples)."""

    samples: int = 0
    rounds: int = 0
    encrypt_s: float = 0.0
    node_s: float = 0.0
    decrypt_s: float = 0.0
    bytes_up: int = 0
    bytes_down: int = 0
    per_layer_node_s: dict[str, float] = field(default_factory=dict)


#: Bytes of each ciphertext kept as the node's view (a minilm inference moves gigabytes); the
#: ciphertext probes read the first 512 bytes and the length, and the view's ``nbytes`` is the full size.
VIEW_PREFIX_BYTES = 4096


@dataclass
class LayerTraffic:
    """What the node received (``up``) and computed (``down``) for one layer in one ``infer`` call.

    One ciphertext per sample, kept as its first VIEW_PREFIX_BYTES bytes plus its full size.
    """

    layer: str
    up: list[bytes] = field(default_factory=list)
    down: list[bytes] = field(default_factory=list)
    up_bytes: int = 0
    down_bytes: int = 0


class HybridWire:
    """The executor each ``RemoteModule`` calls: client encrypts, node evaluates, client decrypts.

    In ``simulate`` and ``disable`` modes it hands the layer back to Concrete ML's own
    ``QuantizedModule.forward`` (simulation of the same circuit, or the quantized layer in the clear).
    """

    def __init__(self, layers: dict[str, object]):
        self.layers = layers  # name -> QuantizedModule
        self._names = {id(q): n for n, q in layers.items()}
        self.clients: dict[str, TFHEClient] = {}
        self.nodes: dict[str, TFHENode] = {}
        self.eval_key_bytes: dict[str, int] = {}
        self.stats = WireStats()
        self.traffic: dict[str, LayerTraffic] = {}
        #: The order layers were called in during the last inference (one round each).
        self.calls: list[str] = []

    def keygen(self) -> None:
        """Fresh secret keys per layer circuit (Concrete's CSPRNG); the node gets evaluation keys only."""
        for name, q in self.layers.items():
            client = TFHEClient(q)
            client.keygen()
            keys = client.evaluation_keys()
            self.eval_key_bytes[name] = len(keys)
            self.clients[name] = client
            self.nodes[name] = TFHENode(q.fhe_circuit.server, keys)

    def start(self) -> None:
        """Forget the last inference's traffic (stats accumulate across inferences)."""
        self.traffic = {}
        self.calls = []

    def forward(self, x: torch.Tensor, q_module, mode) -> torch.Tensor:
        value = getattr(mode, "value", mode)
        xs = x.detach().cpu().numpy()
        if value != "execute":
            return torch.from_numpy(np.asarray(q_module.forward(xs, fhe=value))).float()
        name = self._names[id(q_module)]
        if name not in self.clients:
            raise RuntimeError(f"hybrid layer {name}: execute before keygen")
        client, node = self.clients[name], self.nodes[name]
        traffic = self.traffic.setdefault(name, LayerTraffic(name))
        self.calls.append(name)
        s = self.stats
        s.rounds += 1
        outs = []
        for row in xs:
            t0 = time.perf_counter()
            blob = client.encrypt(row[None])
            t1 = time.perf_counter()
            result = node.evaluate(blob)
            t2 = time.perf_counter()
            outs.append(client.decrypt(result))
            t3 = time.perf_counter()
            s.encrypt_s += t1 - t0
            s.node_s += t2 - t1
            s.decrypt_s += t3 - t2
            s.per_layer_node_s[name] = s.per_layer_node_s.get(name, 0.0) + t2 - t1
            s.bytes_up += len(blob)
            s.bytes_down += len(result)
            traffic.up.append(blob[:VIEW_PREFIX_BYTES])
            traffic.down.append(result[:VIEW_PREFIX_BYTES])
            traffic.up_bytes += len(blob)
            traffic.down_bytes += len(result)
        return torch.from_numpy(np.concatenate(outs)).float().reshape(*x.shape[:-1], -1)


def encrypted_macs(model: nn.Module, names: list[str], sample: torch.Tensor) -> int:
    """Multiply-accumulates per sample the named linear layers do (what the node does under FHE)."""
    total = 0
    modules = dict(model.named_modules())

    def count(_module, inputs, _out):
        nonlocal total
        x = inputs[0]
        total += int(x.numel() // x.shape[0]) * _module.out_features

    handles = [modules[n].register_forward_hook(count) for n in names]
    try:
        with torch.no_grad():
            model(sample[:1])
    finally:
        for h in handles:
            h.remove()
    return total


class HybridTFHE:
    """A model split by Concrete ML's ``HybridFHEModel``: named linear layers in FHE, the rest clear.

    The client runs the torch model; at each remote layer it encrypts the layer input, the node
    evaluates that layer's circuit, and the client decrypts (``HybridWire``).
    """

    def __init__(self, model: nn.Module, module_names: list[str]):
        from concrete.ml.torch.hybrid_model import HybridFHEModel

        self.module_names = list(module_names)
        self.hybrid = HybridFHEModel(model, module_names=self.module_names)
        self.wire: HybridWire | None = None

    def compile(self, calibration: torch.Tensor, n_bits: int, rounding_threshold_bits: int | None,
                p_error: float | None) -> None:
        self.hybrid.compile_model(calibration, n_bits=n_bits, rounding_threshold_bits=rounding_threshold_bits,
                                  p_error=p_error)
        compiled = self.hybrid.private_q_modules
        missing = [n for n, q in compiled.items() if getattr(q, "fhe_circuit", None) is None]
        if missing:
            # Concrete ML skips compilation when every layer is a large linear one (its GLWE backend).
            raise RuntimeError(f"Concrete ML compiled no TFHE circuit for {', '.join(missing)}; "
                               "the hybrid split needs one circuit per layer")
        self.wire = HybridWire(self.hybrid.private_q_modules)

    def keygen(self) -> None:
        self._require_wire().keygen()

    def forward(self, x: torch.Tensor, fhe: str) -> torch.Tensor:
        """One client-side forward pass; each remote layer goes through the wire in mode ``fhe``."""
        wire = self._require_wire()
        self.hybrid.set_fhe_mode(fhe)
        for module in self.hybrid.remote_modules.values():
            module.executor = wire
        with torch.no_grad():
            return self.hybrid.model(x)

    def circuits(self) -> dict[str, Any]:
        return {n: q.fhe_circuit for n, q in self.hybrid.private_q_modules.items()}

    def _require_wire(self) -> HybridWire:
        if self.wire is None:
            raise RuntimeError("the hybrid model is used before compile")
        return self.wire
