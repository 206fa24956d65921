"""A malicious prover's edits to a finished proof, made where EZKL keeps them in the proof JSON.

``instances[0]`` holds the public values in order: the public input (or its hash), the hashed
parameters if any, then the outputs. ``proof`` is the list of proof bytes the verifier reads.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from typing import Any

import ezkl

#: Order of the BN254 scalar field EZKL's instances live in.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617

TAMPER_CASES = ("output", "public_input", "proof_byte")


def felt_to_int(felt: str) -> int:
    """Instances are 32-byte little-endian hex strings."""
    return int.from_bytes(bytes.fromhex(felt.removeprefix("0x")), "little")


def int_to_felt(value: int) -> str:
    return (value % FIELD_MODULUS).to_bytes(32, "little").hex()


def _flat(values: Any) -> list[str]:
    if isinstance(values, list):
        return [v for item in values for v in _flat(item)]
    return [values]


@dataclass(frozen=True)
class InstanceLayout:
    """Where the public input (or its hash) and the outputs sit among a proof's instances."""

    n_input: int
    n_output: int
    n_total: int

    @classmethod
    def of(cls, proof: dict[str, Any]) -> InstanceLayout:
        pretty = proof["pretty_public_inputs"]
        n_in = len(_flat(pretty.get("inputs") or [])) + len(_flat(pretty.get("processed_inputs") or []))
        n_out = len(_flat(pretty.get("outputs") or [])) + len(_flat(pretty.get("processed_outputs") or []))
        inst = proof["instances"][0]
        layout = cls(n_in, n_out, len(inst))
        expected = [int(v, 16) for v in _flat(pretty.get("outputs") or [])]
        if [felt_to_int(f) for f in layout.output_felts(proof)] != expected[: layout.n_output] and expected:
            raise ValueError("proof instances do not end with the public outputs; EZKL's layout changed")
        return layout

    def output_felts(self, proof: dict[str, Any]) -> list[str]:
        return proof["instances"][0][self.n_total - self.n_output :]


def tamper_output(proof: dict[str, Any], output_scale: int) -> dict[str, Any]:
    """Claim a different class: raise the smallest claimed logit above the largest."""
    out = copy.deepcopy(proof)
    layout = InstanceLayout.of(proof)
    start = layout.n_total - layout.n_output
    claimed = [ezkl.felt_to_float(f, output_scale) for f in layout.output_felts(proof)]
    lowest = min(range(len(claimed)), key=claimed.__getitem__)
    out["instances"][0][start + lowest] = ezkl.float_to_felt(max(claimed) + 1.0, output_scale)
    return out


def tamper_public_input(proof: dict[str, Any]) -> dict[str, Any] | None:
    """Prove on an input other than the client's: change the first public input value (or its hash).

    Returns None when the input is private: no instance carries it, so there is nothing to change.
    """
    layout = InstanceLayout.of(proof)
    if layout.n_input == 0:
        return None
    out = copy.deepcopy(proof)
    out["instances"][0][0] = int_to_felt(felt_to_int(proof["instances"][0][0]) + 1)
    return out


def flip_proof_byte(proof: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Flip one random bit of one random proof byte (position from a CSPRNG). Returns the position."""
    out = copy.deepcopy(proof)
    i = secrets.randbelow(len(out["proof"]))
    out["proof"][i] ^= 1 << secrets.randbelow(8)
    if out.get("hex_proof"):
        out["hex_proof"] = "0x" + bytes(out["proof"]).hex()
    return out, i
