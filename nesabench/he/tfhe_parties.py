"""The two TFHE parties around a Concrete ML circuit: they exchange serialized bytes only.

The client holds the secret keys (Concrete draws them from its CSPRNG), quantizes and encrypts;
the node holds the circuit's server side and the evaluation keys, never the secret keys.
"""

from __future__ import annotations

import numpy as np
from concrete import fhe


class TFHEClient:
    def __init__(self, quantized_module):
        self.module = quantized_module
        self.circuit = quantized_module.fhe_circuit

    def keygen(self) -> None:
        self.circuit.keygen()

    def evaluation_keys(self) -> bytes:
        """What the node gets: bootstrapping and key-switching keys, no secret key."""
        return self.circuit.client.evaluation_keys.serialize()

    def encrypt(self, x: np.ndarray) -> bytes:
        return self.circuit.encrypt(self.module.quantize_input(x)).serialize()

    def decrypt(self, blob: bytes) -> np.ndarray:
        q = self.circuit.decrypt(fhe.Value.deserialize(blob))
        return self.module.post_processing(self.module.dequantize_output(q))


class TFHENode:
    def __init__(self, server: fhe.Server, evaluation_keys: bytes):
        self.server = server
        self.keys = fhe.EvaluationKeys.deserialize(evaluation_keys)

    def evaluate(self, blob: bytes) -> bytes:
        return self.server.run(fhe.Value.deserialize(blob), evaluation_keys=self.keys).serialize()
