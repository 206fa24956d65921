"""What the hardware would add to one call, in seconds, from the profile's published constants.

Every input is counted, not assumed: boundary crossings the enclave code made, pages the EPC
simulation swapped, the in-enclave forward time measured on this machine (scaled by the profile's
memory-encryption factor), the bytes that would cross an encrypted CPU-GPU bounce buffer. The
result is a model, recorded under ``modeled_*`` keys and never added to a measured latency.
"""

from __future__ import annotations

from dataclasses import dataclass

from nesabench.tee.profile import HardwareProfile


@dataclass(frozen=True)
class ModeledCost:
    transitions_s: float
    paging_s: float
    encryption_s: float
    transfer_s: float

    @property
    def total_s(self) -> float:
        return self.transitions_s + self.paging_s + self.encryption_s + self.transfer_s


@dataclass(frozen=True)
class CostModel:
    profile: HardwareProfile

    def transfer_s(self, nbytes: int) -> float:
        bw = self.profile.bounce_buffer_gbps
        return 0.0 if bw is None else nbytes / (bw * 1e9)

    def call(self, ecalls: int, ocalls: int, pages_swapped: int, compute_s: float,
             transfer_bytes: int) -> ModeledCost:
        p = self.profile
        return ModeledCost(
            transitions_s=p.seconds(ecalls * p.ecall_cycles + ocalls * p.ocall_cycles),
            paging_s=p.seconds(pages_swapped * p.page_swap_cycles),
            encryption_s=(p.memory_encryption_factor - 1.0) * compute_s,
            transfer_s=self.transfer_s(transfer_bytes),
        )

    def load(self, pages_swapped: int, weight_bytes: int) -> ModeledCost:
        """Building the enclave: paging while loading, and (GPU) copying the weights in."""
        p = self.profile
        return ModeledCost(p.seconds(p.ecall_cycles), p.seconds(pages_swapped * p.page_swap_cycles), 0.0,
                           self.transfer_s(weight_bytes))
