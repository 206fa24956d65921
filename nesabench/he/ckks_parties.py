"""The two CKKS parties: a client that holds the secret key and a node that holds only public keys.

They exchange bytes only: the client serializes the public context (no secret key) and its
ciphertexts; the node loads them into its own context and returns a serialized ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tenseal as ts

from nesabench.he.circuit import CNNCircuit, MLPCircuit
from nesabench.he.ckks_encoding import cnn_matrix, mlp_matrix, unpack_outputs
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
