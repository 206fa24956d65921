"""The polynomial model rewritten as linear maps and pure squares, the form CKKS evaluates cheaply.

A degree-2 activation ``c0 + c1 x + c2 x^2 = c2 (x + c1/2c2)^2 + (c0 - c1^2/4c2)`` is a square once
the shift goes into the previous layer's bias and the scale and constant into the next layer's
weights and bias, so each activation costs exactly one multiplicative level. The 2x2 average pool of
the CNN folds into its final linear layer the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nesabench.he.polynomial import PolyActivation


class UnsupportedModel(Exception):
    """The model's layers do not match a circuit this module can encode."""


@dataclass
class MLPCircuit:
    """``x -> W0 x + b0 -> square -> W1 . + b1 -> square -> ... -> W_last . + b_last``."""

    weights: list[np.ndarray]  # (out, in) each
    biases: list[np.ndarray]

    @property
    def in_features(self) -> int:
        return self.weights[0].shape[1]

    @property
    def num_outputs(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def mult_depth(self) -> int:
        """Levels consumed: each linear layer and each square rescale once; packing the outputs once."""
        return len(self.weights) + (len(self.weights) - 1) + 1

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if i < len(self.weights) - 1:
                h = h * h
        return h


@dataclass
class CNNCircuit:
    """Single-channel ``conv(k x k, stride 1, padding p) -> square -> linear`` (pool folded in)."""

    kernels: np.ndarray  # (channels, k, k)
    conv_bias: np.ndarray  # (channels,)
    padding: int
    image_size: int
    fc_weight: np.ndarray  # (outputs, channels, windows): the pool and activation scale folded in
    fc_bias: np.ndarray

    @property
    def kernel_size(self) -> int:
        return self.kernels.shape[-1]

    @property
    def windows(self) -> int:
        return self.fc_weight.shape[2]

    @property
    def num_outputs(self) -> int:
        return self.fc_weight.shape[0]

    @property
    def mult_depth(self) -> int:
        """Convolution, square, linear, output packing: one level each."""
        return 4

    def forward(self, images: np.ndarray) -> np.ndarray:
        """Plain evaluation of the same arithmetic, for tests and for the depth-free reference."""
        from nesabench.he.ckks_encoding import im2col

        b = len(images)
        cols = im2col(images, self.kernel_size, self.padding)  # (b, windows, k*k)
        conv = cols @ self.kernels.reshape(len(self.kernels), -1).T + self.conv_bias  # (b, windows, c)
        sq = conv * conv
        return np.einsum("bwc,ocw->bo", sq, self.fc_weight).reshape(b, -1) + self.fc_bias


def _leaves(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if not list(m.children())]


def _square_form(act: PolyActivation) -> tuple[float, float, float]:
    """(shift, scale, constant) with ``act(x) = scale * (x + shift)^2 + constant``."""
    c0, c1, c2 = (float(c) for c in act.coeffs)
    if abs(c2) < 1e-12:
        raise UnsupportedModel(f"activation polynomial {c0:+.3g}{c1:+.3g}x{c2:+.3g}x^2 has no square term")
    return c1 / (2 * c2), c2, c0 - c1 * c1 / (4 * c2)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy().copy()


def mlp_circuit(leaves: list[nn.Module]) -> MLPCircuit:
    linears = leaves[0::2]
    acts = leaves[1::2]
    if not all(isinstance(m, nn.Linear) for m in linears) or not all(
        isinstance(m, PolyActivation) for m in acts
    ) or len(linears) != len(acts) + 1:
        raise UnsupportedModel("not an alternation of Linear and polynomial activations")
    weights = [_np(m.weight) for m in linears]
    biases = [_np(m.bias) if m.bias is not None else np.zeros(m.out_features) for m in linears]
    for i, act in enumerate(acts):
        shift, scale, const = _square_form(act)
        biases[i] = biases[i] + shift
        biases[i + 1] = biases[i + 1] + weights[i + 1].sum(axis=1) * const
        weights[i + 1] = weights[i + 1] * scale
    return MLPCircuit(weights=weights, biases=biases)


def cnn_circuit(leaves: list[nn.Module], image_size: int) -> CNNCircuit:
    conv, act, pool, fc = leaves
    if not (isinstance(conv, nn.Conv2d) and isinstance(act, PolyActivation)
            and isinstance(pool, nn.AvgPool2d) and isinstance(fc, nn.Linear)):
        raise UnsupportedModel("not conv -> polynomial activation -> average pool -> linear")
    k = conv.kernel_size[0]
    pad = conv.padding[0] if isinstance(conv.padding, tuple) else conv.padding
    if (conv.in_channels != 1 or conv.kernel_size != (k, k) or conv.stride != (1, 1) or conv.groups != 1
            or conv.dilation != (1, 1) or not isinstance(pad, int)):
        raise UnsupportedModel("im2col encoding here needs one input channel, a square kernel and stride 1")
    out_size = image_size + 2 * pad - k + 1
    pk = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
    if out_size % pk or (pool.stride not in (pk, (pk, pk))):
        raise UnsupportedModel("average pool must tile the feature map")
    shift, scale, const = _square_form(act)
    channels = conv.out_channels
    pooled = out_size // pk
    fcw = _np(fc.weight).reshape(fc.out_features, channels, pooled, pooled)
    # Each pooled cell averages a pk x pk block: spread its weight over the block's windows.
    full = np.repeat(np.repeat(fcw, pk, axis=2), pk, axis=3) / (pk * pk)
    fc_weight = full.reshape(fc.out_features, channels, out_size * out_size) * scale
    fc_bias = _np(fc.bias) + full.reshape(fc.out_features, -1).sum(axis=1) * const
    return CNNCircuit(
        kernels=_np(conv.weight)[:, 0], conv_bias=_np(conv.bias) + shift, padding=pad,
        image_size=image_size, fc_weight=fc_weight, fc_bias=fc_bias,
    )


def extract_circuit(model: nn.Module, sample: torch.Tensor) -> MLPCircuit | CNNCircuit:
    """Read the circuit off the model's layers; ``UnsupportedModel`` says why when it cannot."""
    leaves = _leaves(model)
    if leaves and isinstance(leaves[0], nn.Conv2d):
        if len(leaves) != 4 or sample.dim() != 3 or sample.shape[-1] != sample.shape[-2]:
            raise UnsupportedModel("CNN must be conv -> activation -> pool -> linear on square images")
        return cnn_circuit(leaves, image_size=sample.shape[-1])
    if sample.dim() != 1:
        raise UnsupportedModel(f"inputs of shape {tuple(sample.shape)} are not feature vectors")
    kinds = sorted({type(m).__name__ for m in leaves} - {"Linear", "PolyActivation"})
    if kinds:
        raise UnsupportedModel(f"layers without a CKKS encoding here: {', '.join(kinds)}")
    return mlp_circuit(leaves)
