"""What each part of the circuit shows the verifier, as the config names it and as EZKL spells it."""

from __future__ import annotations

from dataclasses import dataclass

#: Config value -> EZKL visibility string. "hashed" publishes a Poseidon hash of the part.
INPUT_VISIBILITY = {"private": "private", "public": "public", "hashed": "hashed/public"}
PARAM_VISIBILITY = {"fixed": "fixed", "private": "private", "hashed": "hashed/public"}
OUTPUT_VISIBILITY = {"public": "public"}


def _pick(table: dict[str, str], name: str, value: str) -> str:
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"{name}={value!r} is not accepted; accepted: {', '.join(table)}") from None


@dataclass(frozen=True)
class Visibility:
    """Input, parameter and output visibility, validated on construction."""

    input: str = "hashed"
    params: str = "fixed"
    output: str = "public"

    def __post_init__(self) -> None:
        _pick(INPUT_VISIBILITY, "input_visibility", self.input)
        _pick(PARAM_VISIBILITY, "param_visibility", self.params)
        _pick(OUTPUT_VISIBILITY, "output_visibility", self.output)

    @property
    def ezkl_input(self) -> str:
        return INPUT_VISIBILITY[self.input]

    @property
    def ezkl_params(self) -> str:
        return PARAM_VISIBILITY[self.params]

    @property
    def ezkl_output(self) -> str:
        return OUTPUT_VISIBILITY[self.output]
