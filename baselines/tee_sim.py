"""Simulated TEE: real attestation and sealing around the real model, a cited cost model beside it.

The client attests the enclave (Ed25519-signed quote over the SHA-256 measurement of code and
weights, fresh challenge), agrees a session key (X25519 + HKDF) and sends each sample sealed
(AES-GCM). The enclave opens it, runs the workload's model for real, and seals the output. The
host carries the blobs and sees their sizes, their timing, and the page-granular memory accesses a
controlled-channel attacker observes (embedding rows looked up, pages swapped in). What the
hardware would add (transitions, EPC paging, memory encryption, GPU bounce buffers) is modeled
from the profile's published constants and recorded as ``modeled_*``, never added to a
measured latency. See docs/tee.md.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from nesabench.build import ConfigError
from nesabench.pipeline import PartyView, Unsupported, VerifyResult
from nesabench.tee import tamper as T
from nesabench.tee.attestation import AttestationError, Quote, Vendor, verify_quote
from nesabench.tee.cost_model import CostModel, ModeledCost
from nesabench.tee.enclave import CallRecord, Enclave, Platform
from nesabench.tee.epc import EnclavePageCache
from nesabench.tee.measurement import code_files, load_code, measure
from nesabench.tee.profile import HardwareProfile
from nesabench.tee.sealing import (
    CLIENT_TO_ENCLAVE,
    ENCLAVE_TO_CLIENT,
    Channel,
    SealingError,
    pack_tensor,
    public_bytes,
    session_key,
    unpack_tensor,
)
from nesabench.workloads.workload import Workload

MB = 2**20


class UntrustedHost:
    """Stores what the enclave asks it to and sees every sealed blob that passes through."""

    def __init__(self) -> None:
        self.stored_states: list[bytes] = []

    def ocall_store_state(self, blob: bytes) -> None:
        self.stored_states.append(blob)


class TEESimPipeline:
    """The untrusted host runs an attested enclave; the client talks to it over a sealed session."""

    tamper_cases = T.TAMPER_CASES

    def __init__(self, profile: Mapping[str, Any] | HardwareProfile, runtime_mb: float = 32.0) -> None:
        self.profile = HardwareProfile.from_config(profile)
        if runtime_mb < 0:
            raise ConfigError(f"technique.runtime_mb must be >= 0, got {runtime_mb}")
        self.runtime_mb = float(runtime_mb)
        self.cost = CostModel(self.profile)
        self._enclave: Enclave | None = None
        self._pending: list[CallRecord] = []
        self._modeled: list[tuple[ModeledCost, int, int]] = []  # (cost, pages swapped, pages touched)
        self._call_s: list[float] = []
        self._last_views: list[PartyView] = []
        self._last_call: dict[str, Any] | None = None

    # -- the seam ------------------------------------------------------------------------------
    def check(self, workload: Workload) -> None:
        """Any torch model runs inside; the profile decides what it costs."""
        if not any(True for _ in workload.model.parameters()):
            raise Unsupported("the model has no parameters to measure into an enclave")

    def prepare(self, workload: Workload) -> None:
        model = workload.copy_model()
        self._code = load_code(code_files(model))
        # The model owner publishes the measurement of the open-source code and its weights.
        self._expected = measure(self._code, workload.model)
        self._vendor = Vendor()
        self._platform = Platform(self._vendor)
        self._host = UntrustedHost()
        self._enclave = Enclave(model, self._code, self._platform, self._host, self.profile.page_bytes,
                                int(self.runtime_mb * MB))
        self._first_quote = self._attest_and_open()
        # One call on attacker-independent train data fixes the module order and sizes the enclave.
        self.infer(workload.calibration(1))
        self._epc = EnclavePageCache(self.profile.usable_pages)
        first = self._enclave.calls[0]
        self._activation_bytes = first.trace.activation_bytes
        self._load_swapped = self._epc.load(self._enclave.tracer.all_pages(self._activation_bytes))
        self._load_cost = self.cost.load(self._load_swapped, self._enclave.tracer.weight_bytes)
        self._pending, self._modeled, self._call_s = [], [], []
        self._enclave.calls.clear()

    def _attest_and_open(self) -> Quote:
        challenge = secrets.token_bytes(32)
        quote = self._enclave.ecall_quote(challenge)
        verify_quote(quote, self._vendor.public_key, self._expected, challenge)
        client_key = X25519PrivateKey.generate()
        key = session_key(client_key, quote.enclave_public_key, self._expected + challenge)
        self._channel = Channel(key, send_label=CLIENT_TO_ENCLAVE, recv_label=ENCLAVE_TO_CLIENT)
        self._enclave.ecall_open_session(public_bytes(client_key), challenge)
        return quote

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        sealed_in = [self._channel.seal(pack_tensor(x[i : i + 1])) for i in range(len(x))]
        sealed_out = self._enclave.ecall_infer(sealed_in)  # the host carries both lists
        y = torch.cat([unpack_tensor(self._channel.open(b)) for b in sealed_out])
        call_s = time.perf_counter() - t0
        self._call_s.append(call_s)
        self._pending.append(self._enclave.calls[-1])
        self._last_call = {"in": sealed_in, "out": sealed_out, "seconds": call_s / max(1, len(x)),
                           "record": self._enclave.calls[-1]}
        return y

    def _model_pending(self) -> list[np.ndarray]:
        """Play the calls not yet modeled against the EPC (kept out of the timed ``infer``)."""
        faults = []
        for rec in self._pending:
            seq = self._enclave.tracer.access_sequence(rec.trace)
            swapped = self._epc.access(seq)
            cost = self.cost.call(rec.ecalls, rec.ocalls, len(swapped), rec.forward_s, rec.plaintext_bytes)
            self._modeled.append((cost, len(swapped), len(np.unique(seq))))
            faults.append(swapped)
        self._pending = []
        return faults

    def views(self) -> list[PartyView]:
        if self._last_call is None:
            return []
        faults = self._model_pending()
        call = self._last_call
        rec: CallRecord = call["record"]
        batch = len(call["in"])
        timing = {"seconds_per_sample": call["seconds"]}
        out = [
            PartyView("host", "sealed_blob", "input", list(call["in"]), meta=dict(timing)),
            PartyView("host", "sealed_blob", "output", list(call["out"])),
        ]
        if not self.profile.page_fault_channel:  # the model's memory is out of the host's page tables
            return out
        tracer = self._enclave.tracer
        for name, rows in rec.trace.lookups.items():
            pages = tracer.row_pages(name, rows)
            out.append(PartyView("host", "access_trace", f"embedding_pages:{name}", list(pages), nbytes=0,
                                 received=False, meta={"granularity_bytes": self.profile.page_bytes}))
        swapped = faults[-1] if faults else np.zeros(0, np.int64)
        out.append(PartyView("host", "access_trace", "epc_page_faults", [swapped] * batch if batch else [],
                             nbytes=0, received=False, meta={"granularity_bytes": self.profile.page_bytes}))
        return out

    # -- verification --------------------------------------------------------------------------
    def verify(self, tamper: str | None = None) -> VerifyResult:
        if tamper is not None and tamper not in self.tamper_cases:
            raise ValueError(f"unknown tamper case {tamper!r}; accepted: {', '.join(self.tamper_cases)}")
        t0 = time.perf_counter()
        try:
            if tamper == "rollback":
                # The host restarts the enclave and hands it the oldest authentic sealed state.
                self._enclave.ecall_restore_state(self._host.stored_states[0])
                detail = "older sealed state accepted"
            else:
                challenge = secrets.token_bytes(32)
                quote = self._host_quote(tamper, challenge)
                verify_quote(quote, self._vendor.public_key, self._expected, challenge)
                if tamper is None:
                    self._enclave.ecall_restore_state(self._host.stored_states[-1])
                detail = "fresh quote verified; latest sealed state accepted"
            ok = True
        except (AttestationError, SealingError) as err:
            ok, detail = False, str(err)
        return VerifyResult(ok, tamper, time.perf_counter() - t0, detail)

    def _host_quote(self, tamper: str | None, challenge: bytes) -> Quote:
        if tamper == "weights":
            bad = Enclave(T.changed_weights(self._enclave._model), self._code, self._platform, self._host)
            return bad.ecall_quote(challenge)
        if tamper == "code":
            bad = Enclave(self._enclave._model, T.changed_code(self._code), self._platform, self._host)
            return bad.ecall_quote(challenge)
        if tamper == "forged_quote":
            return T.forged_quote(self._expected, challenge)
        if tamper == "replayed_quote":
            return self._first_quote
        return self._enclave.ecall_quote(challenge)

    # -- numbers -------------------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        self._model_pending()
        if not self._modeled:
            return {}
        tracer = self._enclave.tracer
        costs = [c for c, _, _ in self._modeled]
        calls = self._enclave.calls
        med = statistics.median
        total = [c.total_s for c in costs]
        forward = [r.forward_s for r in calls]
        weights_mb = tracer.weight_bytes / MB
        act_mb = self._activation_bytes / MB
        slowdowns = [(s + c) / max(f, 1e-12) for s, c, f in zip(self._call_s, total, forward, strict=False)]
        hardware = [(f + c) / max(f, 1e-12) for c, f in zip(total, forward, strict=False)]
        out = {
            "profile": self.profile.name,
            "epc_mb": self.profile.epc_mb,
            "usable_epc_mb": self.profile.usable_epc_mb,
            "runtime_mb": self.runtime_mb,
            "weights_mb": weights_mb,
            "activations_mb": act_mb,
            "working_set_mb": weights_mb + act_mb + self.runtime_mb,
            "touched_mb_per_call": med(t for _, _, t in self._modeled) * self.profile.page_bytes / MB,
            "epc_pages_swapped": med(s for _, s, _ in self._modeled),
            "epc_pages_swapped_mean": float(np.mean([s for _, s, _ in self._modeled])),
            "epc_pages_swapped_max": max(s for _, s, _ in self._modeled),
            "epc_load_pages_swapped": self._load_swapped,
            "modeled_overhead_s": med(total),
            "modeled_overhead_mean_s": float(np.mean(total)),
            "modeled_overhead_p95_s": float(np.percentile(total, 95)),
            "modeled_transition_s": med(c.transitions_s for c in costs),
            "modeled_paging_s": med(c.paging_s for c in costs),
            "modeled_encryption_s": med(c.encryption_s for c in costs),
            "modeled_transfer_s": med(c.transfer_s for c in costs),
            "modeled_load_s": self._load_cost.total_s,
            "modeled_slowdown": med(slowdowns),
            # (in-enclave forward + modeled overhead) / forward: comparable with published TEE overheads
            "modeled_hardware_factor": med(hardware),
            "modeled_calls": len(costs),
            "enclave_call_s": med(self._call_s),
            "enclave_forward_s": med(forward),
            "ecalls_per_call": med(r.ecalls for r in calls),
            "ocalls_per_call": med(r.ocalls for r in calls),
            "measurement_sha256": self._expected.hex(),
            "modeled_note": "modeled_*, epc_pages_swapped and working_set_mb come from the profile's "
                            "published constants and the traced page accesses; latency_* are measured",
        }
        return out
