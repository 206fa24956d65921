"""One encoder layer of a layered transformer as its own circuit, for models too large to prove whole.

A stack of identical encoder layers costs the prover the same for each layer (same shapes, same
operations, only the weights differ), so one layer's measured proof times the layer count is the
stack's proving cost ("measured per layer x N", not an extrapolation). The node computes the
embeddings in plaintext, proves layer 0 on them, and finishes the forward pass from the claimed
layer output in plaintext, so the returned outputs carry the circuit's quantization error of that
layer. What is not proven (embeddings, the other layers, pooling and head) is named in the record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class _BertLayer(nn.Module):
    """A Hugging Face BertLayer with its additive mask built from a 0/1 ``keep`` input, as BertModel does."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        bias = ((1.0 - keep) * torch.finfo(h.dtype).min)[:, None, None, :]
        out = self.layer(h, attention_mask=bias)
        return out[0] if isinstance(out, tuple) else out


class _TinyBlock(nn.Module):
    """A TinyTransformer EncoderBlock taking ``keep`` as 0/1 floats (circuit inputs are numbers)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.block(h, keep > 0.5)


@dataclass
class LayerSplit:
    """Layer 0 as a module of (hidden states, keep mask), and the plaintext parts around it."""

    layer: nn.Module
    n_layers: int
    #: token ids -> (hidden states entering layer 0, keep mask as 0/1 floats)
    inputs: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    #: (token ids, hidden states leaving layer 0) -> logits
    finish: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    #: what the per-layer proof leaves unproven, for the record
    unproven: str


def _minilm_split(model: nn.Module) -> LayerSplit:
    enc = model.encoder
    enc.config._attn_implementation = "eager"  # plain matmul + softmax ops, which EZKL lays out
    layers = enc.encoder.layer
    wrapped = [_BertLayer(layer).eval() for layer in layers]

    def inputs(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return enc.embeddings(input_ids=ids), (ids != model.pad_id).float()

    def finish(ids: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        keep = (ids != model.pad_id).float()
        with torch.no_grad():
            for layer in wrapped[1:]:
                h = layer(h, keep)
            w = keep.unsqueeze(-1)
            pooled = (h * w).sum(1) / w.sum(1).clamp_min(1e-9)
            return model.head(nn.functional.normalize(pooled, dim=-1))

    return LayerSplit(wrapped[0], len(layers), inputs, finish,
                      unproven=f"embeddings, layers 2-{len(layers)} (costed as layer 1), pooling, head")


def _tiny_split(model: nn.Module) -> LayerSplit:
    blocks = [_TinyBlock(b).eval() for b in model.blocks]

    def inputs(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            return model.embed(ids) + model.pos[: ids.shape[1]], (ids != model.pad_id).float()

    def finish(ids: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        keep = (ids != model.pad_id).float()
        with torch.no_grad():
            for block in blocks[1:]:
                h = block(h, keep)
            h = model.ln_f(h)
            w = keep.unsqueeze(-1)
            return model.head((h * w).sum(1) / w.sum(1).clamp_min(1.0))

    return LayerSplit(blocks[0], len(blocks), inputs, finish,
                      unproven=f"embeddings, blocks 2-{len(blocks)} (costed as block 1), final norm, "
                      "pooling, head")


def split_layers(model: nn.Module) -> LayerSplit | None:
    """The per-layer view of a known layered model (MiniLM/BERT, TinyTransformer), else None."""
    if hasattr(model, "encoder") and hasattr(getattr(model.encoder, "encoder", None), "layer"):
        return _minilm_split(model)
    if hasattr(model, "blocks") and hasattr(model, "embed"):
        return _tiny_split(model)
    return None
