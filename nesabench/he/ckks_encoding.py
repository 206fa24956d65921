"""Slot layouts that put several samples in one CKKS ciphertext (TenSEAL's matmul encodings).

Both workloads use TenSEAL's encrypted-matrix encoding (``enc_matmul_encoding``: a matrix scanned
column by column, columns padded to a power of two). A batch of feature vectors is a (batch x
features) matrix, so ``enc_matmul_plain(w, batch)`` gives one neuron for every sample at once. For
images the matrix is im2col's (windows x kernel elements) as in TenSEAL's MNIST tutorial, with the
windows of every image of the batch stacked window-major (row ``window * batch + image``), so that
after the convolution the same call sums each image's windows for the linear layer.
"""

from __future__ import annotations

import numpy as np


def next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def im2col(images: np.ndarray, kernel: int, padding: int) -> np.ndarray:
    """(batch, H, W) -> (batch, windows, kernel*kernel), stride 1, row-major windows and kernel."""
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding)))
    cols = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel), axis=(1, 2))
    return cols.reshape(len(images), -1, kernel * kernel)


def mlp_matrix(x: np.ndarray) -> np.ndarray:
    """A batch of feature vectors as the (batch x features) matrix to encode."""
    return x.reshape(len(x), -1)


def cnn_matrix(images: np.ndarray, kernel: int, padding: int) -> np.ndarray:
    """im2col rows of all images, window-major: row ``window * batch + image``."""
    cols = im2col(images, kernel, padding)  # (batch, windows, k*k)
    return cols.transpose(1, 0, 2).reshape(-1, cols.shape[2])


def mlp_capacity(slots: int, in_features: int, hidden: int, outputs: int) -> int:
    """Samples one ciphertext holds: the encoded matrix, each neuron and the packed outputs must fit."""
    return max(0, min(slots // next_pow2(in_features), slots // max(hidden, 1), slots // outputs))


def cnn_capacity(slots: int, kernel: int, windows: int, outputs: int) -> int:
    """Images one ciphertext holds: windows x padded kernel elements, then windows, then outputs."""
    return max(0, min(slots // (windows * next_pow2(kernel * kernel)), slots // outputs))


def unpack_outputs(values: np.ndarray, batch: int, outputs: int) -> np.ndarray:
    """Decrypted packed outputs (class-major: ``class * batch + sample``) -> (batch, outputs)."""
    return np.asarray(values[: outputs * batch]).reshape(outputs, batch).T
