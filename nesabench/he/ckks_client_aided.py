"""Client-aided transformer inference: the model's forward pass split into node rounds and client steps.

Every linear map (the fused Q/K/V projection, the attention output, both FFN linears, the head) is a
node round: ``linear(x, name)`` with ``x`` the (rows x in) activations, evaluated by the caller on
ciphertexts with the plaintext weights. Everything else runs on the client between rounds, on
decrypted values: embeddings, LayerNorm, GELU, the attention products QK^T and PV and their softmax
(both operands of those products are encrypted, and packing them for ciphertext-ciphertext products
would send the node one ciphertext per score; see docs/he.md), residuals, and masked mean pooling.

Written once per architecture; with a plaintext ``linear`` the walk reproduces the model's output
(tests check it), so any difference under encryption is CKKS error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nesabench.he.circuit import UnsupportedModel
from nesabench.workloads.minilm import MiniLMClassifier
from nesabench.workloads.models import TinyTransformer

#: A node round: (rows x in) activations and a layer name -> (rows x out) outputs.
Linear = Callable[[np.ndarray, str], np.ndarray]


@dataclass
class LinearLayer:
    """One linear map the node evaluates: ``x @ weight + bias`` (weight is (in, out))."""

    weight: np.ndarray
    bias: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.weight.shape[0], self.weight.shape[1]

    def plain(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight + self.bias


def _layer(*linears: nn.Linear) -> LinearLayer:
    """Linears reading the same input, fused along the output (one round for Q, K and V)."""
    w = np.concatenate([m.weight.detach().double().numpy().T for m in linears], axis=1)
    b = np.concatenate([m.bias.detach().double().numpy() if m.bias is not None else np.zeros(m.out_features)
                        for m in linears])
    return LinearLayer(np.ascontiguousarray(w), b)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x, dtype=np.float32))


def _attention(qkv: np.ndarray, keep: torch.Tensor, n_heads: int) -> np.ndarray:
    """Client: softmax(Q K^T / sqrt(d_head)) V over the unpadded keys, heads concatenated."""
    t, three_d = qkv.shape
    d = three_d // 3
    dh = d // n_heads
    q, k, v = (_t(qkv[:, i * d : (i + 1) * d]).view(t, n_heads, dh).transpose(0, 1) for i in range(3))
    scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
    scores = scores.masked_fill(~keep[None, None, :], torch.finfo(scores.dtype).min)
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(0, 1).reshape(t, d).double().numpy()


def _masked_mean(h: torch.Tensor, keep: torch.Tensor, floor: float) -> torch.Tensor:
    w = keep.unsqueeze(-1).to(h.dtype)
    return (h * w).sum(0) / w.sum(0).clamp_min(floor)


class TinyClientAided:
    """The built-in pre-LayerNorm TinyTransformer: 4 rounds per block plus the head."""

    def __init__(self, model: TinyTransformer):
        self.model = model
        self.layers: dict[str, LinearLayer] = {}
        for i, b in enumerate(model.blocks):
            a = b.attn
            self.layers |= {f"blocks.{i}.qkv": _layer(a.q, a.k, a.v), f"blocks.{i}.o": _layer(a.o),
                            f"blocks.{i}.ff1": _layer(b.ff1), f"blocks.{i}.ff2": _layer(b.ff2)}
        self.layers["head"] = _layer(model.head)

    def forward(self, ids: torch.Tensor, linear: Linear) -> np.ndarray:
        m = self.model
        keep = ids != m.pad_id
        with torch.no_grad():
            h = m.embed(ids) + m.pos[: len(ids)]
            for i, b in enumerate(m.blocks):
                qkv = linear(b.ln1(h).double().numpy(), f"blocks.{i}.qkv")
                att = _attention(qkv, keep, b.attn.n_heads)
                h = h + _t(linear(att, f"blocks.{i}.o"))
                f = b.act(_t(linear(b.ln2(h).double().numpy(), f"blocks.{i}.ff1")))
                h = h + _t(linear(f.double().numpy(), f"blocks.{i}.ff2"))
            pooled = _masked_mean(m.ln_f(h), keep, 1.0)
        return linear(pooled.double().numpy()[None], "head")[0]


class MiniLMClientAided:
    """The Hugging Face BertModel (post-LayerNorm) inside MiniLM: 4 rounds per layer plus the head."""

    def __init__(self, model: MiniLMClassifier):
        self.model = model
        self.bert = model.encoder
        self.layers: dict[str, LinearLayer] = {}
        for i, layer in enumerate(self.bert.encoder.layer):
            s = layer.attention.self
            self.layers |= {f"layer.{i}.qkv": _layer(s.query, s.key, s.value),
                            f"layer.{i}.o": _layer(layer.attention.output.dense),
                            f"layer.{i}.ff1": _layer(layer.intermediate.dense),
                            f"layer.{i}.ff2": _layer(layer.output.dense)}
        self.layers["head"] = _layer(model.head)

    def forward(self, ids: torch.Tensor, linear: Linear) -> np.ndarray:
        keep = ids != self.model.pad_id
        heads = self.bert.config.num_attention_heads
        with torch.no_grad():
            h = self.bert.embeddings(input_ids=ids[None])[0]
            for i, layer in enumerate(self.bert.encoder.layer):
                att = _attention(linear(h.double().numpy(), f"layer.{i}.qkv"), keep, heads)
                out = layer.attention.output
                h = out.LayerNorm(_t(linear(att, f"layer.{i}.o")) + h)
                f = layer.intermediate.intermediate_act_fn(_t(linear(h.double().numpy(), f"layer.{i}.ff1")))
                h = layer.output.LayerNorm(_t(linear(f.double().numpy(), f"layer.{i}.ff2")) + h)
            pooled = nn.functional.normalize(_masked_mean(h, keep, 1e-9), dim=-1)
        return linear(pooled.double().numpy()[None], "head")[0]


ClientAided = TinyClientAided | MiniLMClientAided


def encoder_layers(walk: ClientAided) -> int:
    """Encoder layers (blocks) in the walk: four rounds each, besides the head."""
    return (len(walk.layers) - 1) // 4


def layer_index(name: str) -> int | None:
    """The encoder layer a round belongs to (``blocks.1.ff1`` / ``layer.1.ff1`` -> 1); None for the head."""
    return None if name == "head" else int(name.split(".")[1])


def client_aided_model(model: nn.Module) -> ClientAided:
    """The walk for this model's architecture; ``UnsupportedModel`` for one without a walk here."""
    if isinstance(model, TinyTransformer):
        return TinyClientAided(model)
    if isinstance(model, MiniLMClassifier):
        return MiniLMClientAided(model)
    raise UnsupportedModel(f"no client-aided split for {type(model).__name__} (written for TinyTransformer "
                           "and MiniLMClassifier)")
