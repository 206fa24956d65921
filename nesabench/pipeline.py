"""The seam every privacy technique plugs into.

A technique is one class with this shape, named by ``technique._target_``. The harness only calls
these methods and reads what they return, so it never needs to know which technique it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch

if TYPE_CHECKING:
    from nesabench.workloads.workload import Workload

ViewKind = Literal[
    "plain_input",
    "activation",
    "permuted_activation",
    "share",
    "ciphertext",
    "proof",
    "sealed_blob",
    "access_trace",
    "output",
    "weights",  # the model (parameters) a party holds: sent once at setup unless re-sent per query
]
VIEW_KINDS: tuple[str, ...] = ViewKind.__args__  # type: ignore[attr-defined]

#: Parties a technique may name. Nodes may be numbered ("node0", "node1", ...).
TRUSTED_PARTIES = ("client", "model_owner")


class Unsupported(Exception):
    """Raised by ``check``/``prepare`` when a technique cannot run a workload.

    The harness records it as a result (status ``unsupported``), with the reason and, when the
    technique can extrapolate one from measured per-operation costs, an ``estimate`` dict whose
    keys land in the record next to ``estimated: true``.
    """

    def __init__(self, reason: str, estimate: dict[str, float] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.estimate = estimate or {}


def payload_nbytes(payload: Any) -> int:
    """Bytes a payload occupies on the wire, for the bytes-to-nodes accounting."""
    if payload is None:
        return 0
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return len(payload)
    if isinstance(payload, torch.Tensor):
        return payload.element_size() * payload.nelement()
    if isinstance(payload, np.ndarray):
        return int(payload.nbytes)
    if isinstance(payload, (list, tuple)):
        return sum(payload_nbytes(p) for p in payload)
    if isinstance(payload, str):
        return len(payload.encode())
    raise TypeError(
        f"cannot size a view payload of type {type(payload).__name__}; give PartyView.nbytes "
        "explicitly or use bytes, a tensor, an ndarray or a list of those"
    )


@dataclass
class PartyView:
    """What one party received or computed during one ``infer`` call, in the clear to that party.

    ``payload`` is batch-first where the view is per sample (row i belongs to input i of the
    batch), so attacks can pair views with inputs. ``nbytes`` defaults to the payload's size.
    ``received`` is False for what the party computed itself (its own output): that is still a
    view for the attacks, but not traffic to the party.
    """

    party: str
    kind: ViewKind
    layer: str
    payload: Any
    nbytes: int = -1
    received: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in VIEW_KINDS:
            raise ValueError(f"unknown view kind {self.kind!r}; accepted: {', '.join(VIEW_KINDS)}")
        if self.nbytes < 0:
            self.nbytes = payload_nbytes(self.payload)

    @property
    def untrusted(self) -> bool:
        return self.party not in TRUSTED_PARTIES


@dataclass
class VerifyResult:
    """Outcome of a verification, honest or under a named tampering."""

    verified: bool
    tamper: str | None = None
    seconds: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class TrainedModel:
    """A model a technique trained or fine-tuned, offered to the harness's membership audit.

    ``train_x`` / ``train_y`` are exactly the samples it trained on; ``retrain(x, y, seed)`` trains
    a fresh model with the same recipe (hyperparameters, and DP noise if any) on other data, for
    the audit's shadow models. ``epsilon`` / ``delta`` are the differential-privacy guarantee the
    model claims, None when it claims none; the audit checks the measured advantage against it.
    """

    model: torch.nn.Module
    train_x: torch.Tensor
    train_y: torch.Tensor
    retrain: Callable[[torch.Tensor, torch.Tensor, int], torch.nn.Module]
    epsilon: float | None = None
    delta: float | None = None


@runtime_checkable
class Pipeline(Protocol):
    """A private-inference technique. Constructor keyword arguments are its parameters.

    Optional members the harness uses when present:
      - ``verify(tamper=None) -> VerifyResult``: check the last result; ``tamper_cases`` lists the
        tamper names it accepts.
      - ``metrics() -> dict``: technique-specific numbers (keygen_s, proof_bytes, ...) merged
        into the record.
      - ``max_eval_samples: int | None``: cap on how many samples the technique can afford to
        run for quality (e.g. real TFHE execution); None means the whole test split.
      - ``budget_s: float | None``: set by the harness before ``prepare`` to ``harness.max_eval_s``
        (None: no budget). A technique may skip optional extra passes under a budget (a check of its
        cost estimator against the measurement, say) and records that it did.
      - ``trained_model() -> TrainedModel | None``: the model the technique trained or fine-tuned
        (DP-SGD, say); the harness audits it for membership inference after timing.
    """

    def check(self, workload: Workload) -> None:
        """Raise ``Unsupported(reason)`` if the technique cannot run this workload."""

    def prepare(self, workload: Workload) -> None:
        """Everything done once before serving: keys, circuits, proving setup, DP training."""

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """Private inference of a batch; returns outputs comparable with the plaintext model's."""

    def views(self) -> list[PartyView]:
        """What each party saw during the most recent ``infer`` call."""
