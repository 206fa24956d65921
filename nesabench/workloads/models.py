"""Model factories for the built-in workloads.

Architectures are written out by hand (no nn.TransformerEncoder) so that every technique, and the
hybrid's weight transformations, can see each linear map and non-linearity by name.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; accepted: {', '.join(ACTIVATIONS)}") from None


class MLP(nn.Module):
    """Linear layers with one activation between each pair."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = (16,),
        act: str = "relu",
        width: int | None = None,  # one hidden layer of this many units (experiment=scaling)
    ):
        super().__init__()
        widths = [in_features, *([width] if width is not None else hidden), num_classes]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(activation(act))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DigitsCNN(nn.Module):
    """conv(3x3) -> activation -> 2x2 average pool -> linear: one non-linearity, HE and ZK friendly."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 8,
        num_classes: int = 10,
        channels: int = 8,
        act: str = "relu",
    ):
        super().__init__()
        if image_size % 2:
            raise ValueError(f"image_size must be even for the 2x2 pool, got {image_size}")
        self.conv = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
        self.act = activation(act)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(channels * (image_size // 2) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))


class SelfAttention(nn.Module):
    """Multi-head softmax attention with a key padding mask."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, _ = h.shape

        def heads(z: torch.Tensor) -> torch.Tensor:
            return z.view(b, t, self.n_heads, self.d_head).transpose(1, 2)

        q, k, v = heads(self.q(h)), heads(self.k(h)), heads(self.v(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        scores = scores.masked_fill(~keep[:, None, None, :], torch.finfo(scores.dtype).min)
        out = torch.softmax(scores, dim=-1) @ v
        return self.o(out.transpose(1, 2).reshape(b, t, -1))


class EncoderBlock(nn.Module):
    """Pre-LayerNorm block: attention and a GELU MLP, each with a residual."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads)
        self.ff1, self.ff2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.act = nn.GELU()

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.ln1(h), keep)
        return h + self.ff2(self.act(self.ff1(self.ln2(h))))


class TinyTransformer(nn.Module):
    """Token + position embeddings, a few encoder blocks, masked mean pooling, linear head."""

    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        num_classes: int,
        pad_id: int = 0,
        d_model: int = 32,
        n_heads: int = 2,
        d_ff: int = 64,
        n_layers: int = 1,
        width: int | None = None,  # d_model = width, d_ff = 2 x width (experiment=scaling)
    ):
        super().__init__()
        if width is not None:
            d_model, d_ff = width, 2 * width
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.randn(seq_len, d_model) * 0.02)
        self.blocks = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = ids != self.pad_id
        h = self.embed(ids) + self.pos[: ids.shape[1]]
        for block in self.blocks:
            h = block(h, keep)
        h = self.ln_f(h)
        w = keep.unsqueeze(-1).to(h.dtype)
        return self.head((h * w).sum(1) / w.sum(1).clamp_min(1.0))
