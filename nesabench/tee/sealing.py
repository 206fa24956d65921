"""Sealing: the session channel between client and enclave, and the enclave's sealed state.

Session: X25519 key agreement, HKDF-SHA256 over the shared secret and the attestation transcript,
AES-256-GCM with a per-message nonce (4-byte direction label + 8-byte sequence number), so a
message cannot be replayed, reordered or reflected. Sealed state: the enclave's persistent state,
AES-GCM under a key derived from the platform's secret and the measurement (SGX's MRENCLAVE
sealing policy), carrying a version that must equal the platform's monotonic counter: a host that
restores an older, authentic state blob (rollback) is caught by the counter, not by the cipher.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CLIENT_TO_ENCLAVE = b"c2e:"
ENCLAVE_TO_CLIENT = b"e2c:"
NONCE_BYTES = 12
STATE_AAD = b"nesabench-tee-sealed-state-v1"


class SealingError(Exception):
    """A sealed blob that does not open: wrong key, tampered, replayed, or out of order."""


class RollbackError(SealingError):
    """An authentic sealed state older than the monotonic counter says it must be."""


def public_bytes(key: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def session_key(own: X25519PrivateKey, peer_public: bytes, transcript: bytes) -> bytes:
    """HKDF-SHA256 of the X25519 shared secret, bound to the attestation transcript."""
    shared = own.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"nesabench-tee-session-v1" + transcript).derive(shared)


class Channel:
    """One end of the sealed session: seals what it sends, opens what it receives, in order."""

    def __init__(self, key: bytes, send_label: bytes, recv_label: bytes) -> None:
        self._aead = AESGCM(key)
        self._send_label, self._recv_label = send_label, recv_label
        self._sent = 0
        self._received = 0

    def seal(self, plaintext: bytes) -> bytes:
        nonce = self._send_label + self._sent.to_bytes(8, "big")
        self._sent += 1
        return nonce + self._aead.encrypt(nonce, plaintext, nonce)

    def open(self, blob: bytes) -> bytes:
        nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        if nonce[:4] != self._recv_label:
            raise SealingError("sealed message has the wrong direction label (reflected)")
        seq = int.from_bytes(nonce[4:], "big")
        if seq != self._received:
            raise SealingError(f"sealed message number {seq}, expected {self._received} "
                               "(replayed or reordered)")
        try:
            plaintext = self._aead.decrypt(nonce, body, nonce)
        except InvalidTag as err:
            raise SealingError("sealed message fails authentication (wrong key or tampered)") from err
        self._received += 1
        return plaintext


def pack_tensor(t: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    np.save(buf, t.detach().cpu().numpy(), allow_pickle=False)
    return buf.getvalue()


def unpack_tensor(blob: bytes) -> torch.Tensor:
    return torch.from_numpy(np.load(io.BytesIO(blob), allow_pickle=False))


class MonotonicCounter:
    """A platform counter the host can read but never decrement (SGX PSE / TPM NV counter role)."""

    def __init__(self) -> None:
        self._value = 0

    @property
    def value(self) -> int:
        return self._value

    def increment(self) -> int:
        self._value += 1
        return self._value


def seal_state(key: bytes, state: dict, version: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    body = json.dumps({**state, "version": version}, sort_keys=True).encode()
    return nonce + AESGCM(key).encrypt(nonce, body, STATE_AAD)


def open_state(key: bytes, blob: bytes, counter: MonotonicCounter | None) -> dict:
    """Open a sealed state; with a counter, refuse any version but the latest (rollback)."""
    try:
        state = json.loads(AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], STATE_AAD))
    except InvalidTag as err:
        raise SealingError("sealed state fails authentication (wrong enclave or tampered)") from err
    if counter is not None and state["version"] != counter.value:
        raise RollbackError(f"sealed state version {state['version']} but the monotonic counter is at "
                            f"{counter.value} (rollback)")
    return state
