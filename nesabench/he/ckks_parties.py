"""The two CKKS parties: a client that holds the secret key and a node that holds only public keys.

They exchange bytes only: the client serializes the public context (no secret key) and its
ciphertexts; the node loads them into its own context and returns a serialized ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tenseal as ts

from nesabench.he.circuit import CNNCircuit, MLPCircuit
from nesabench.he.ckks_diagonal import decrypt_blocks, encrypt_blocks
from nesabench.he.ckks_encoding import cnn_matrix, mlp_matrix, next_pow2, unpack_outputs
from nesabench.he.ckks_params import CKKSParams


class CKKSClient:
    """Makes the keys (SEAL draws them from the OS CSPRNG), encrypts inputs, decrypts outputs."""

    def __init__(self, params: CKKSParams):
        self.params = params
        self._ctx = ts.context(ts.SCHEME_TYPE.CKKS, params.poly_modulus_degree,
                               coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes))
        self._ctx.global_scale = params.global_scale
        self._ctx.generate_galois_keys()
        self._ctx.generate_relin_keys()

    def public_context(self) -> bytes:
        """What the node gets: public, relinearization and Galois keys, never the secret key."""
        return self._ctx.serialize(save_public_key=True, save_secret_key=False,
                                   save_galois_keys=True, save_relin_keys=True)

    def encrypt(self, matrix: np.ndarray) -> bytes:
        return ts.enc_matmul_encoding(self._ctx, matrix.tolist()).serialize()

    def encrypt_mlp(self, x: np.ndarray) -> bytes:
        return self.encrypt(mlp_matrix(x))

    def encrypt_cnn(self, images: np.ndarray, circuit: CNNCircuit) -> bytes:
        return self.encrypt(cnn_matrix(images, circuit.kernel_size, circuit.padding))

    def encrypt_vector(self, x: np.ndarray) -> bytes:
        """One sample as TenSEAL's tutorials encode it (a vector for ``mm``), plus a 1 for the bias."""
        return ts.ckks_vector(self._ctx, [*x.ravel().tolist(), 1.0]).serialize()

    def decrypt_vector(self, blob: bytes) -> np.ndarray:
        return np.array(ts.ckks_vector_from(self._ctx, blob).decrypt())[None]

    def decrypt(self, blob: bytes, batch: int, outputs: int) -> np.ndarray:
        values = np.array(ts.ckks_vector_from(self._ctx, blob).decrypt())
        return unpack_outputs(values, batch, outputs)


@dataclass
class NodeOps:
    """Homomorphic operations the node ran in one evaluation (for the estimates and the docs)."""

    matmul_plain: int = 0
    squares: int = 0
    scalar_mults: int = 0


class CKKSNode:
    """Evaluates the circuit on ciphertexts with plaintext weights and a public context."""

    def __init__(self, public_context: bytes, circuit: MLPCircuit | CNNCircuit):
        self.context = ts.context_from(public_context)
        if self.context.has_secret_key() or not self.context.is_public():
            raise RuntimeError("the node's context must not hold a secret key")
        self.circuit = circuit
        self.ops = NodeOps()

    def evaluate(self, blob: bytes, batch: int) -> bytes:
        enc = ts.ckks_vector_from(self.context, blob)
        self.ops = NodeOps()
        outs = self._mlp(enc, batch) if isinstance(self.circuit, MLPCircuit) else self._cnn(enc, batch)
        return ts.CKKSVector.pack_vectors(outs).serialize()

    def evaluate_vector(self, blob: bytes) -> bytes:
        """One sample of a one-hidden-layer MLP by TenSEAL's ``mm`` (diagonal method), depth 3.

        ``mm`` reads the replicated copies of its input vector, and adding a plain bias would
        change only the first copy; so the first bias rides in the weights (the client appends a
        constant 1 to the input) and the only plain addition is the last layer's.
        """
        c = self.circuit
        if not isinstance(c, MLPCircuit) or len(c.weights) != 2:
            raise TypeError(f"evaluate_vector runs a one-hidden-layer MLP circuit, got {c!r:.80}")
        enc = ts.ckks_vector_from(self.context, blob)
        first = np.hstack([c.weights[0], c.biases[0][:, None]])
        enc = enc.mm(first.T.tolist())
        enc.square_()
        enc = enc.mm(c.weights[1].T.tolist()) + c.biases[1].tolist()
        self.ops = NodeOps(matmul_plain=2, squares=1)
        return enc.serialize()

    def _combine(self, inputs: list[ts.CKKSVector], weight: np.ndarray, bias: np.ndarray) -> list:
        """A linear layer on neuron-per-ciphertext inputs: scalar multiplications and additions."""
        outs = []
        for row, b in zip(weight, bias, strict=True):
            acc = None
            for h, w in zip(inputs, row, strict=True):
                if w == 0.0:
                    continue
                term = h * float(w)
                self.ops.scalar_mults += 1
                acc = term if acc is None else acc + term
            if acc is None:
                raise ValueError("a linear layer has an all-zero row; CKKS cannot encrypt a constant here")
            outs.append(acc + float(b))
        return outs

    def _mlp(self, enc: ts.CKKSVector, batch: int) -> list:
        c = self.circuit
        if not isinstance(c, MLPCircuit):
            raise TypeError(f"_mlp needs an MLPCircuit, got {type(c).__name__}")
        hidden = []
        for row, b in zip(c.weights[0], c.biases[0], strict=True):
            hidden.append(enc.enc_matmul_plain(row.tolist(), batch) + float(b))
            self.ops.matmul_plain += 1
        for w, b in zip(c.weights[1:], c.biases[1:], strict=True):
            for h in hidden:
                h.square_()
            self.ops.squares += len(hidden)
            hidden = self._combine(hidden, w, b)
        return hidden

    def _cnn(self, enc: ts.CKKSVector, batch: int) -> list:
        c = self.circuit
        if not isinstance(c, CNNCircuit):
            raise TypeError(f"_cnn needs a CNNCircuit, got {type(c).__name__}")
        windows = c.windows * batch
        channels = []
        for kernel, b in zip(c.kernels, c.conv_bias, strict=True):
            ch = enc.conv2d_im2col(kernel.tolist(), windows) + float(b)
            ch.square_()
            channels.append(ch)
        self.ops.matmul_plain += len(channels)
        self.ops.squares += len(channels)
        outs = []
        for weight, b in zip(c.fc_weight, c.fc_bias, strict=True):
            acc = None
            for ch, w in zip(channels, weight, strict=True):
                term = ch.enc_matmul_plain(w.tolist(), batch)
                self.ops.matmul_plain += 1
                acc = term if acc is None else acc + term
            outs.append(acc + float(b))
        return outs



def column_chunk(slots: int, rows: int, d_in: int) -> int:
    """Columns of a (rows x d_in) activation matrix one ciphertext holds in ``enc_matmul_encoding``.

    The encoding scans the matrix column by column, each column padded to a power of two; wider
    matrices are split into column blocks whose partial products the node adds.
    """
    per_column = next_pow2(rows)
    if per_column > slots:
        raise ValueError(f"{rows} rows do not fit the {slots} slots of one ciphertext")
    return min(next_pow2(d_in), 1 << ((slots // per_column).bit_length() - 1))


class CKKSRoundClient(CKKSClient):
    """The client of client-aided inference: encrypts a round's activations, decrypts the outputs."""

    def encrypt_blocks(self, x: np.ndarray) -> list[bytes]:
        """(rows x d_in) activations in full column blocks, for the diagonal packing."""
        return encrypt_blocks(self._ctx, x)

    def decrypt_blocks(self, blobs: list[bytes], rows: int, d_out: int) -> np.ndarray:
        return decrypt_blocks(self._ctx, blobs, rows, d_out)

    def encrypt_columns(self, x: np.ndarray) -> list[bytes]:
        """(rows x d_in) activations as TenSEAL encrypted matrices, one per block of columns."""
        chunk = column_chunk(self.params.slots, x.shape[0], x.shape[1])
        return [ts.enc_matmul_encoding(self._ctx, x[:, i : i + chunk].tolist()).serialize()
                for i in range(0, x.shape[1], chunk)]

    def decrypt_columns(self, blobs: list[bytes], rows: int, d_out: int) -> np.ndarray:
        """Packed outputs (neuron-major: ``neuron * rows + row``) -> (rows x d_out)."""
        per_ct = self.params.slots // rows
        cols = []
        for k, blob in enumerate(blobs):
            n = min(per_ct, d_out - k * per_ct)
            values = np.array(ts.ckks_vector_from(self._ctx, blob).decrypt())
            cols.append(unpack_outputs(values, rows, n))
        return np.concatenate(cols, axis=1)


class CKKSLinearNode:
    """Evaluates linear layers on encrypted activation matrices with plain weights and a public context.

    TenSEAL's encrypted-matrix product (``enc_matmul_plain``, as in its MNIST tutorial) gives one
    output neuron for every row (token) at once, at one plaintext multiplication and log2(columns)
    rotations; the node then packs the neurons (``pack_vectors``) so few ciphertexts go back.
    """

    def __init__(self, public_context: bytes, layers: dict[str, tuple[np.ndarray, np.ndarray]], slots: int):
        self.context = ts.context_from(public_context)
        if self.context.has_secret_key() or not self.context.is_public():
            raise RuntimeError("the node's context must not hold a secret key")
        self.layers, self.slots = layers, slots
        self.matmul_plain_ops = 0

    def evaluate(self, name: str, blobs: list[bytes], rows: int) -> list[bytes]:
        w, b = self.layers[name]  # (in, out), (out,)
        d_in, d_out = w.shape
        chunk = column_chunk(self.slots, rows, d_in)
        if len(blobs) != -(-d_in // chunk):
            raise ValueError(f"layer {name} takes {-(-d_in // chunk)} column blocks, got {len(blobs)}")
        encs = [ts.ckks_vector_from(self.context, blob) for blob in blobs]
        neurons = []
        for j in range(d_out):
            acc = None
            for k, enc in enumerate(encs):
                term = enc.enc_matmul_plain(w[k * chunk : (k + 1) * chunk, j].tolist(), rows)
                acc = term if acc is None else acc + term
            self.matmul_plain_ops += len(encs)
            neurons.append(acc + float(b[j]))
        per_ct = self.slots // rows
        return [ts.CKKSVector.pack_vectors(neurons[i : i + per_ct]).serialize()
                for i in range(0, d_out, per_ct)]
