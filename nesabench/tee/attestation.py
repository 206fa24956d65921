"""Remote attestation: a quote binds the enclave's measurement and session key to a fresh challenge.

The "vendor" (Intel's or NVIDIA's role) holds an Ed25519 key; the simulated platform signs a quote
only for the measurement it computed from what was loaded. The client checks the signature
against the vendor's public key, the measurement against the one the model owner published, and
the challenge it sent (freshness: an old quote replayed for a new challenge is refused).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

QUOTE_VERSION = b"nesabench-tee-quote-v1"


class AttestationError(Exception):
    """The client refuses this enclave; the message says which check failed."""


def report_data(enclave_public_key: bytes, challenge: bytes) -> bytes:
    return hashlib.sha256(enclave_public_key + challenge).digest()


@dataclass(frozen=True)
class Quote:
    """What the enclave sends the client: public values and the vendor's signature over them."""

    measurement: bytes
    enclave_public_key: bytes  # raw X25519 public key for the session
    challenge: bytes  # the client's nonce this quote answers
    signature: bytes

    def body(self) -> bytes:
        return (QUOTE_VERSION + self.measurement + self.enclave_public_key + self.challenge
                + report_data(self.enclave_public_key, self.challenge))

    def to_bytes(self) -> bytes:
        return self.body() + self.signature


class Vendor:
    """The attestation root. Its private key is made by the OS CSPRNG and never leaves this object."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.public_key: Ed25519PublicKey = self._key.public_key()

    def sign(self, measurement: bytes, enclave_public_key: bytes, challenge: bytes) -> Quote:
        unsigned = Quote(measurement, enclave_public_key, challenge, b"")
        return Quote(measurement, enclave_public_key, challenge, self._key.sign(unsigned.body()))


def verify_quote(quote: Quote, vendor_key: Ed25519PublicKey, expected_measurement: bytes,
                 challenge: bytes) -> None:
    """Raise AttestationError unless the quote is genuine, fresh and for the expected enclave."""
    try:
        vendor_key.verify(quote.signature, quote.body())
    except InvalidSignature as err:
        raise AttestationError("quote signature does not verify under the vendor key (forged quote)") from err
    if quote.challenge != challenge:
        raise AttestationError("quote answers a different challenge (replayed quote)")
    if quote.measurement != expected_measurement:
        raise AttestationError("enclave measurement differs from the published one (changed code or weights)")
