"""A TEE hardware profile: the published constants the cost model converts into seconds.

Profiles live in conf/technique/profile/*.yaml, each constant with its source in a comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from nesabench.build import ConfigError


@dataclass(frozen=True)
class HardwareProfile:
    """Secure-memory size, boundary-crossing and paging costs, memory-encryption slowdown, clock."""

    name: str
    epc_mb: float  # secure memory the hardware reserves (SGX: the EPC/PRM; VMs/GPUs: protected memory)
    usable_epc_mb: float  # of it, what enclave pages can use (the rest holds SGX metadata)
    ecall_cycles: int  # one call into the enclave (or TD/CVM entry)
    ocall_cycles: int  # one call out of the enclave to the host
    page_swap_cycles: int  # evicting one secure page and loading another (EWB + ELDU + exit)
    memory_encryption_factor: float  # in-enclave compute time multiplier from memory encryption
    clock_ghz: float  # converts cycles to seconds
    page_bytes: int = 4096
    bounce_buffer_gbps: float | None = None  # GB/s of encrypted CPU<->GPU copies; None = no GPU
    page_fault_channel: bool = True  # the host observes the enclave's page accesses (controlled channel)

    def __post_init__(self) -> None:
        positive = ("epc_mb", "usable_epc_mb", "clock_ghz", "page_bytes", "memory_encryption_factor")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"technique.profile.{name} must be > 0, got {getattr(self, name)}")
        for name in ("ecall_cycles", "ocall_cycles", "page_swap_cycles"):
            if getattr(self, name) < 0:
                raise ConfigError(f"technique.profile.{name} must be >= 0, got {getattr(self, name)}")
        if self.usable_epc_mb > self.epc_mb:
            raise ConfigError(f"technique.profile.usable_epc_mb={self.usable_epc_mb} exceeds "
                              f"epc_mb={self.epc_mb}")
        if self.memory_encryption_factor < 1:
            raise ConfigError("technique.profile.memory_encryption_factor must be >= 1 (a slowdown), "
                              f"got {self.memory_encryption_factor}")
        if self.bounce_buffer_gbps is not None and self.bounce_buffer_gbps <= 0:
            raise ConfigError("technique.profile.bounce_buffer_gbps must be > 0 or null, "
                              f"got {self.bounce_buffer_gbps}")

    @property
    def usable_pages(self) -> int:
        return int(self.usable_epc_mb * 2**20 // self.page_bytes)

    def seconds(self, cycles: float) -> float:
        return float(cycles) / (self.clock_ghz * 1e9)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | HardwareProfile) -> HardwareProfile:
        """Build from a config mapping; unknown or missing keys are named with what is accepted."""
        if isinstance(cfg, HardwareProfile):
            return cfg
        if not isinstance(cfg, Mapping):
            raise ConfigError("technique.profile must be a mapping of profile constants, got "
                              f"{type(cfg).__name__}; choose one with "
                              "technique/profile=sgx1_128mb|sgx2_large|tdx|h100_cc")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(map(str, cfg)) - set(names))
        if unknown:
            raise ConfigError(f"technique.profile has no key {', '.join(unknown)}; "
                              f"it accepts: {', '.join(names)}")
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in cfg]
        if missing:
            raise ConfigError(f"technique.profile is missing {', '.join(missing)}; "
                              "choose a profile with technique/profile=sgx1_128mb|sgx2_large|tdx|h100_cc")
        return cls(**{k: cfg[k] for k in names if k in cfg})
