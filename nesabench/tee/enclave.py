"""The simulated platform and the enclave that runs the model inside it.

The host decides what code and weights to load and carries every message, but only calls the
enclave's ECALL entry points (``ecall_*``); the enclave reaches the host only through OCALLs
(``host.ocall_*``). The boundary counts both. The platform computes the measurement from what was
loaded and signs quotes with the vendor key; its sealing secret and monotonic counter never
leave it. All keys come from the OS CSPRNG (``secrets``, ``cryptography``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from torch import nn

from nesabench.tee.attestation import Quote, Vendor
from nesabench.tee.measurement import measure
from nesabench.tee.memory_trace import CallTrace, MemoryTracer
from nesabench.tee.sealing import (
    CLIENT_TO_ENCLAVE,
    ENCLAVE_TO_CLIENT,
    Channel,
    MonotonicCounter,
    SealingError,
    open_state,
    pack_tensor,
    public_bytes,
    seal_state,
    session_key,
    unpack_tensor,
)


class Host(Protocol):
    """What the enclave may ask of the untrusted host."""

    def ocall_store_state(self, blob: bytes) -> None: ...


class Platform:
    """The CPU (or GPU) root of trust: vendor-certified quoting, a sealing secret, a counter."""

    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor
        self._secret = secrets.token_bytes(32)
        self.counter = MonotonicCounter()

    def sealing_key(self, measurement: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"nesabench-tee-seal-v1" + measurement).derive(self._secret)


@dataclass
class Boundary:
    """Crossings of the enclave boundary, counted where they happen."""

    ecalls: int = 0
    ocalls: int = 0


@dataclass
class CallRecord:
    """One ECALL_infer as the enclave saw it: counts, the page trace, its own forward time."""

    ecalls: int
    ocalls: int
    trace: CallTrace
    forward_s: float
    plaintext_bytes: int


class Enclave:
    def __init__(self, model: nn.Module, code: Mapping[str, bytes], platform: Platform, host: Host,
                 page_bytes: int = 4096, runtime_bytes: int = 0) -> None:
        self._model = model.eval()
        self._platform = platform
        self._host = host
        self.measurement = measure(code, model)  # computed by the platform from what was loaded
        self._key = X25519PrivateKey.generate()
        self.public_key = public_bytes(self._key)
        self._channel: Channel | None = None
        self.boundary = Boundary()
        self.tracer = MemoryTracer(self._model, page_bytes, runtime_bytes)
        self.calls: list[CallRecord] = []
        self._state = {"queries_served": 0}

    def ecall_quote(self, challenge: bytes) -> Quote:
        self.boundary.ecalls += 1
        return self._platform.vendor.sign(self.measurement, self.public_key, challenge)

    def ecall_open_session(self, client_public: bytes, challenge: bytes) -> None:
        self.boundary.ecalls += 1
        key = session_key(self._key, client_public, self.measurement + challenge)
        self._channel = Channel(key, send_label=ENCLAVE_TO_CLIENT, recv_label=CLIENT_TO_ENCLAVE)
        self._persist()

    def ecall_infer(self, sealed_inputs: list[bytes]) -> list[bytes]:
        """Open each sealed sample, run the model on the batch, seal each output row."""
        if self._channel is None:
            raise SealingError("no attested session: call ecall_open_session first")
        before = (self.boundary.ecalls, self.boundary.ocalls)
        self.boundary.ecalls += 1
        x = torch.cat([unpack_tensor(self._channel.open(b)) for b in sealed_inputs])
        self.tracer.start(len(x))
        t0 = time.perf_counter()
        with torch.no_grad():
            y = self._model(x)
        forward_s = time.perf_counter() - t0
        trace = self.tracer.stop()
        out = [self._channel.seal(pack_tensor(row.unsqueeze(0))) for row in y]
        self._state["queries_served"] += len(x)
        self._persist()
        crossed = (self.boundary.ecalls - before[0], self.boundary.ocalls - before[1])
        nbytes = x.element_size() * x.numel() + y.element_size() * y.numel()
        self.calls.append(CallRecord(*crossed, trace, forward_s, nbytes))
        return out

    def ecall_restore_state(self, blob: bytes, check_counter: bool = True) -> dict:
        """After a restart: accept the host's stored state only if it is the latest one sealed."""
        self.boundary.ecalls += 1
        key = self._platform.sealing_key(self.measurement)
        self._state = open_state(key, blob, self._platform.counter if check_counter else None)
        self._state.pop("version", None)
        return dict(self._state)

    def _persist(self) -> None:
        version = self._platform.counter.increment()
        blob = seal_state(self._platform.sealing_key(self.measurement), self._state, version)
        self.boundary.ocalls += 1
        self._host.ocall_store_state(blob)
