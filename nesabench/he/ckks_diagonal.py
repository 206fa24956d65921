"""Client-aided rounds by the diagonal method with baby-step giant-step rotations (opt-in packing).

TenSEAL's ``enc_matmul_plain`` costs log2(columns) rotations per output neuron (8 at 256 columns):
for MiniLM's 16-token rounds that is ~8.4k calls and ~68k rotations per encoder layer. Here the client
packs the (tokens x d_in) activations column-major in full blocks (``column * P + token``, P = the
tokens rounded up to a power of two, C = slots / P columns per ciphertext), and the node computes a
block of C output neurons in the same layout as the Halevi-Shoup sum over the C generalized diagonals:
``sum_r rot(x, P r) * D_r``, split as r = a + g b so it costs g rotations per input block (shared by
all output blocks) and C/g per output block, plus one plaintext product per diagonal. TenSEAL has no
arbitrary rotation in Python, so this module uses its SEAL bindings (``tenseal.sealapi``) on the
TenSEAL ciphertexts; the node still holds only the public context.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import tenseal as ts
import tenseal.sealapi as seal

from nesabench.he.ckks_encoding import next_pow2


def use_diagonal(rows: int) -> bool:
    """Whether a round of ``rows`` tokens runs by diagonals: not the one-row head, where C = all slots
    would cost ~2 sqrt(slots) rotations for a handful of outputs (``enc_matmul_plain`` is cheaper)."""
    return rows > 1


def diagonal_layout(slots: int, rows: int) -> tuple[int, int]:
    """(P, C): slots per column (rows padded to a power of two) and columns per ciphertext."""
    per_column = next_pow2(rows)
    if per_column > slots:
        raise ValueError(f"{rows} rows do not fit the {slots} slots of one ciphertext")
    return per_column, slots // per_column


def _save(ct: seal.Ciphertext) -> bytes:
    fd, path = tempfile.mkstemp(prefix="nesabench-ckks-")
    os.close(fd)
    try:
        ct.save(path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def _load(context: ts.Context, blob: bytes) -> seal.Ciphertext:
    fd, path = tempfile.mkstemp(prefix="nesabench-ckks-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        ct = seal.Ciphertext()
        ct.load(context.data.seal_context(), path)
        return ct
    finally:
        os.unlink(path)


def encrypt_blocks(context: ts.Context, x: np.ndarray) -> list[bytes]:
    """Client: (rows x d_in) activations as full column blocks, ``column * P + row``, zero-padded."""
    rows, d_in = x.shape
    p, c = diagonal_layout(seal.CKKSEncoder(context.data.seal_context()).slot_count(), rows)
    blobs = []
    for k in range(0, d_in, c):
        block = np.zeros((c, p))
        part = x[:, k : k + c].T
        block[: part.shape[0], :rows] = part
        blobs.append(ts.ckks_vector(context, block.ravel().tolist()).serialize())
    return blobs


def decrypt_blocks(context: ts.Context, blobs: list[bytes], rows: int, d_out: int) -> np.ndarray:
    """Client: output blocks (``neuron * P + row``) -> (rows x d_out)."""
    sc = context.data.seal_context()
    decryptor = seal.Decryptor(sc, context.data.secret_key())
    encoder = seal.CKKSEncoder(sc)
    p, c = diagonal_layout(encoder.slot_count(), rows)
    cols = []
    for k, blob in enumerate(blobs):
        pt = seal.Plaintext()
        decryptor.decrypt(_load(context, blob), pt)
        values = np.array(encoder.decode_double(pt)).reshape(c, p)
        cols.append(values[: min(c, d_out - k * c), :rows].T)
    return np.concatenate(cols, axis=1)


class DiagonalLinearNode:
    """Evaluates linear layers on column-block ciphertexts with plain weights and a public context."""

    def __init__(self, public_context: bytes, layers: dict[str, tuple[np.ndarray, np.ndarray]], slots: int):
        self.context = ts.context_from(public_context)
        if self.context.has_secret_key() or not self.context.is_public():
            raise RuntimeError("the node's context must not hold a secret key")
        self.layers, self.slots = layers, slots
        sc = self.context.data.seal_context()
        self._ev, self._enc = seal.Evaluator(sc), seal.CKKSEncoder(sc)
        self._gk = self.context.data.galois_keys()
        self.rotations = 0
        self.plain_products = 0

    def _rot(self, ct: seal.Ciphertext, steps: int) -> seal.Ciphertext:
        if steps % self.slots == 0:
            return ct
        out = seal.Ciphertext()
        self._ev.rotate_vector(ct, steps, self._gk, out)
        self.rotations += 1
        return out

    def _plain(self, values: np.ndarray, like: seal.Ciphertext) -> seal.Plaintext:
        pt = seal.Plaintext()
        self._enc.encode(values.tolist(), like.parms_id(), like.scale, pt)
        return pt

    def evaluate(self, name: str, blobs: list[bytes], rows: int) -> list[bytes]:
        w, b = self.layers[name]  # (in, out), (out,)
        d_in, d_out = w.shape
        p, c = diagonal_layout(self.slots, rows)
        if len(blobs) != -(-d_in // c):
            raise ValueError(f"layer {name} takes {-(-d_in // c)} column blocks, got {len(blobs)}")
        g = 1 << math.ceil(math.log2(c) / 2)  # baby steps; c / g giant steps
        inputs = [ts.ckks_vector_from(self.context, blob).data.ciphertext()[0] for blob in blobs]
        baby = [[self._rot(ct, p * a) for a in range(g)] for ct in inputs]
        cols = np.arange(c)
        out = []
        for j0 in range(0, d_out, c):
            acc = None
            for giant in range(0, c, g):
                inner = None
                for k, rotated in enumerate(baby):
                    wk = np.zeros((c, c))
                    part = w[k * c : (k + 1) * c, j0 : j0 + c]
                    wk[: part.shape[0], : part.shape[1]] = part
                    for a in range(g):
                        diag = wk[(cols + a + giant) % c, cols]
                        if not diag.any():
                            continue
                        # rot(x, P(a+giant)) * D = rot(rot(x, P a) * rot(D, -P giant), P giant)
                        d = np.roll(np.repeat(diag, p), p * giant)
                        term = seal.Ciphertext()
                        self._ev.multiply_plain(rotated[a], self._plain(d, rotated[a]), term)
                        self.plain_products += 1
                        if inner is None:
                            inner = term
                        else:
                            self._ev.add_inplace(inner, term)
                if inner is not None:
                    inner = self._rot(inner, p * giant)
                    if acc is None:
                        acc = inner
                    else:
                        self._ev.add_inplace(acc, inner)
            if acc is None:
                raise ValueError(f"layer {name}: an all-zero weight block; CKKS cannot encrypt a constant")
            self._ev.rescale_to_next_inplace(acc)
            bias = np.zeros(c)
            part = b[j0 : j0 + c]
            bias[: len(part)] = part
            self._ev.add_plain_inplace(acc, self._plain(np.repeat(bias, p), acc))
            self._ev.mod_switch_to_next_inplace(acc)  # the last prime is enough to decrypt: half the bytes
            out.append(_save(acc))
        return out
