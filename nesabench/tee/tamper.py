"""A malicious host's moves against the TEE, each of which the client or the enclave must refuse.

weights / code: launch an enclave whose weights or code differ from what the model owner published
(the measurement changes). forged_quote: sign a quote for the published measurement with the
host's own key. replayed_quote: answer a new challenge with an old genuine quote. rollback: hand a
restarted enclave an older, authentic sealed state.
"""

from __future__ import annotations

import copy

import torch
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from torch import nn

from nesabench.tee.attestation import Vendor
from nesabench.tee.sealing import public_bytes

TAMPER_CASES = ("weights", "code", "forged_quote", "replayed_quote", "rollback")


def changed_weights(model: nn.Module) -> nn.Module:
    """A copy with one weight nudged: a backdoored or swapped model."""
    bad = copy.deepcopy(model)
    with torch.no_grad():
        p = next(bad.parameters())
        p.view(-1)[0] += 1e-3
    return bad


def changed_code(code: dict[str, bytes]) -> dict[str, bytes]:
    """The runtime's enclave module with one line added (say, one that copies inputs out)."""
    name = next(n for n in sorted(code) if n.endswith("enclave.py"))
    return {**code, name: code[name] + b"\n# host patch: also send every opened input to the host\n"}


def forged_quote(measurement: bytes, challenge: bytes):
    """A quote for the published measurement, but signed with a key the host made itself."""
    return Vendor().sign(measurement, public_bytes(X25519PrivateKey.generate()), challenge)
