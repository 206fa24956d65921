"""CKKS parameter checks: the 128-bit security bound and the levels a circuit needs."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Largest total coefficient modulus (bits) for 128-bit classical security, from the Homomorphic
#: Encryption Standard as enforced by Microsoft SEAL (which TenSEAL wraps).
MAX_COEFF_BITS_128 = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}
SECURITY_BITS = 128


@dataclass(frozen=True)
class CKKSParams:
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    global_scale: float

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def levels(self) -> int:
        """Rescalings available: every prime except the first (data) and the last (special) one."""
        return len(self.coeff_mod_bit_sizes) - 2

    @property
    def scale_bits(self) -> int:
        return round(math.log2(self.global_scale))

    def validate(self) -> None:
        """Parameter errors that do not depend on the circuit (raised at construction)."""
        n, sizes = self.poly_modulus_degree, self.coeff_mod_bit_sizes
        if n not in MAX_COEFF_BITS_128:
            raise ValueError(f"poly_modulus_degree={n} is not accepted; accepted: "
                             f"{', '.join(map(str, MAX_COEFF_BITS_128))}")
        if len(sizes) < 3 or any(not 10 <= b <= 60 for b in sizes):
            raise ValueError(f"coeff_mod_bit_sizes={list(sizes)} must list at least 3 primes of 10..60 bits")
        if self.global_scale <= 1:
            raise ValueError(f"global_scale={self.global_scale} must be > 1 (e.g. 2**33)")

    def check_security(self) -> None:
        total, bound = sum(self.coeff_mod_bit_sizes), MAX_COEFF_BITS_128[self.poly_modulus_degree]
        if total > bound:
            raise ValueError(
                f"coeff_mod_bit_sizes={list(self.coeff_mod_bit_sizes)} total {total} bits, over the "
                f"{SECURITY_BITS}-bit security bound of {bound} bits for poly_modulus_degree="
                f"{self.poly_modulus_degree}; use fewer or smaller primes or a larger poly_modulus_degree"
            )

    def check_depth(self, depth: int) -> None:
        if self.levels < depth:
            s = self.scale_bits
            suggestion = [s + 7] + [s] * depth + [s + 7]
            raise ValueError(
                f"the circuit needs multiplicative depth {depth} (that many rescalings) but "
                f"coeff_mod_bit_sizes={list(self.coeff_mod_bit_sizes)} gives {self.levels}; use "
                f"{depth + 2} primes, e.g. {suggestion} (total {sum(suggestion)} bits; at most "
                f"{MAX_COEFF_BITS_128[self.poly_modulus_degree]} for poly_modulus_degree="
                f"{self.poly_modulus_degree})"
            )
        middle = self.coeff_mod_bit_sizes[1:-1]
        if any(abs(b - self.scale_bits) > 1 for b in middle[:depth]):
            raise ValueError(
                f"global_scale=2^{self.scale_bits} must match the rescaling primes {list(middle)} "
                "(TenSEAL rescales by those primes; a mismatch makes the scale drift out of bounds)"
            )
