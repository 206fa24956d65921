"""Counts of the operations an encrypted evaluation of a model would need, read off one forward pass.

A ``TorchDispatchMode`` sees every aten op of a forward pass on one sample. Products with weights
(``mm``/``addmm``) become ciphertext-plaintext matrix products, products of two activations
(``bmm``, attention) ciphertext-ciphertext ones, and non-linearities are counted per row so a cost
model can price their polynomial or lookup-table evaluation. Convolutions count as im2col products
whose windows are packed into one vector's slots (one row), as the CKKS pipeline encodes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
_ELEMENTWISE = {
    aten.gelu.default: "gelu", aten.relu.default: "relu", aten.tanh.default: "tanh",
    aten.sigmoid.default: "sigmoid", aten.exp.default: "exp", aten.rsqrt.default: "rsqrt",
    aten.erf.default: "erf",
}


@dataclass
class OpCounts:
    """Operation counts for one sample."""

    plain_matmuls: int = 0  # vector-matrix products with a plaintext weight (one per row vector)
    plain_macs: int = 0  # multiply-accumulates in those products
    plain_matmul_inputs: int = 0  # sum over those products of the input length (diagonal method)
    plain_outputs: int = 0  # output elements of those products (each one accumulator)
    cipher_products: int = 0  # dot products between two encrypted vectors (attention)
    cipher_macs: int = 0
    cipher_dot_len_log2: float = 0.0  # sum of log2(length) of those dot products (rotations)
    softmax_rows: int = 0
    softmax_elements: int = 0
    norm_rows: int = 0
    norm_elements: int = 0
    activation_elements: int = 0  # gelu / tanh / relu / exp ... elements
    activation_rows: int = 0


class _Counter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts = OpCounts()

    def _plain(self, rows: int, k: int, n: int) -> None:
        c = self.counts
        c.plain_matmuls += rows
        c.plain_macs += rows * k * n
        c.plain_matmul_inputs += rows * k
        c.plain_outputs += rows * n

    def _cipher(self, pairs: int, length: int) -> None:
        c = self.counts
        c.cipher_products += pairs
        c.cipher_macs += pairs * length
        c.cipher_dot_len_log2 += pairs * math.log2(max(length, 2))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        c = self.counts
        if func in (aten.mm.default, aten.addmm.default):
            a, b = (args[1], args[2]) if func is aten.addmm.default else (args[0], args[1])
            self._plain(a.shape[0], a.shape[1], b.shape[1])
        elif func is aten.bmm.default:
            a, b = args[0], args[1]
            self._cipher(a.shape[0] * a.shape[1] * b.shape[2], a.shape[2])
        elif func in (aten._softmax.default, aten.softmax.int):
            c.softmax_elements += out.numel()
            c.softmax_rows += out.numel() // out.shape[-1]
        elif func is aten.native_layer_norm.default:
            c.norm_elements += out[0].numel()
            c.norm_rows += out[0].numel() // out[0].shape[-1]
        elif func in _ELEMENTWISE:
            c.activation_elements += out.numel()
            if out.dim() == 4:  # (N, C, H, W): one packed vector per channel (im2col layout)
                c.activation_rows += out.shape[0] * out.shape[1]
            else:
                c.activation_rows += out.numel() // max(out.shape[-1], 1) if out.dim() else 1
        elif "scaled_dot_product" in str(func):
            q, k = args[0], args[1]
            heads_rows = q.numel() // q.shape[-1]
            self._cipher(heads_rows * k.shape[-2], q.shape[-1])  # q k^T
            self._cipher(heads_rows * q.shape[-1], k.shape[-2])  # attn v
            c.softmax_rows += heads_rows
            c.softmax_elements += heads_rows * k.shape[-2]
        elif func is aten.convolution.default:
            # im2col, as TenSEAL's CNN tutorial encodes it: the windows share one vector's slots, so
            # the convolution is one (kernel elements -> channels) product on packed vectors.
            w = args[1]
            self._plain(1, w[0].numel(), w.shape[0])
        return out


def count_ops(model: torch.nn.Module, sample: torch.Tensor) -> OpCounts:
    """Operation counts of ``model`` on one sample (batch of 1)."""
    counter = _Counter()
    with torch.no_grad(), counter:
        model(sample[:1])
    return counter.counts
