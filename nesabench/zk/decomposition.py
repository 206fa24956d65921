"""EZKL's range-check decomposition sized to the circuit, so its table does not set the domain.

EZKL range-checks values by decomposing them into ``decomp_legs`` digits of base ``decomp_base``;
each digit is looked up in a table of ``decomp_base`` rows. Its calibration then picks the smallest
logrows whose single column holds the largest table (``calc_min_logrows``): with EZKL's default base
2^14 that is logrows 15 (32,768 rows) for any circuit, so mlp_cancer's 1,232 rows were proved in a
domain 16x larger than they need. A base of at most half the circuit's own domain, with enough legs
that base^legs still covers EZKL's default range (2^14)^2 = 2^28, lets calibration pick the logrows
the rows need (mlp_cancer: 2^10 x 3 legs, logrows 11, same outputs). Circuits that need logrows 15
or more keep EZKL's default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nesabench.zk.circuit import logrows_for

#: EZKL 23's defaults (``PyRunArgs().decomp_base``, ``.decomp_legs``).
EZKL_DECOMP_BASE = 16384
EZKL_DECOMP_LEGS = 2
#: Smallest fitted base (2^8): below that the legs, and the rows they add, multiply.
MIN_BASE_BITS = 8


@dataclass(frozen=True)
class Decomposition:
    base: int
    legs: int

    @property
    def range_bits(self) -> float:
        """log2 of the range the digits cover (EZKL's default: 28)."""
        return self.legs * math.log2(self.base)


def legs_for(base: int) -> int:
    """Legs of ``base`` covering at least EZKL's default range, (2^14)^2."""
    default_bits = EZKL_DECOMP_LEGS * math.log2(EZKL_DECOMP_BASE)
    return math.ceil(default_bits / math.log2(base) - 1e-9)


def fitted_decomposition(num_rows: int, legs: int | None = None) -> Decomposition:
    """The largest power-of-two base <= EZKL's default whose table fits the circuit's own domain
    (half of 2^logrows_for(num_rows), the other half for the blinding rows), and enough legs to keep
    EZKL's default range unless ``legs`` is given."""
    bits = max(MIN_BASE_BITS, min(int(math.log2(EZKL_DECOMP_BASE)), logrows_for(num_rows) - 1))
    base = 2**bits
    return Decomposition(base, legs if legs is not None else legs_for(base))
