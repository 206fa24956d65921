"""Training-data leakage: the membership-inference audit of every model a technique trained.

Any pipeline that trains or fine-tunes a model exposes it through ``trained_model()`` (a
``TrainedModel``: the model, the samples it trained on, its recipe as a ``retrain`` function and
the DP guarantee it claims). After timing, the harness audits that model with the LOSS attack and
offline LiRA (``nesabench.leakage.membership``) and, as the comparison point, the workload's own
plaintext model, once per workload (its shadows are cached next to the workload's model). Record
keys: ``mia_*`` for the technique's model, ``plaintext_mia_*`` for the workload's, and under a DP
claim ``mia_advantage_bound`` / ``mia_bound_respected`` with the (epsilon, delta) they used.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch
from torch import nn

from nesabench.confighash import data_digest
from nesabench.leakage.membership import (
    NONMEMBER_FRACTION,
    dp_bound_check,
    membership_audit,
    membership_split,
)
from nesabench.pipeline import TrainedModel
from nesabench.threads import torch_threads
from nesabench.workloads.workload import Workload

log = logging.getLogger(__name__)

#: Shadow models per audited model for offline LiRA (Carlini et al. use few shadows with a fixed
#: variance in the offline setting; 0 would leave only the LOSS attack).
SHADOWS = 4
#: Shadows of the workload's plaintext model train on one thread, like the DP recipes: on a shared
#: machine these tiny models train faster that way.
SHADOW_THREADS = 1

#: Audits of workloads' plaintext models already run in this process, by workload key.
_plaintext_audits: dict[tuple[str, int, float], dict[str, Any]] = {}


def audit_trained_model(
    trained: TrainedModel,
    heldout_x: torch.Tensor,
    heldout_y: torch.Tensor,
    shadows: int = SHADOWS,
    nonmember_fraction: float = NONMEMBER_FRACTION,
    seed: int = 0,
    prefix: str = "mia_",
) -> dict[str, Any]:
    """Membership audit of one trained model; non-members come from ``heldout`` (data it never saw)."""
    split = membership_split(trained.train_x, trained.train_y, heldout_x, heldout_y, nonmember_fraction, seed)
    out = membership_audit(trained.model, split, trained.retrain, shadows, seed=seed, prefix=prefix)
    out[f"{prefix}target_train_samples"] = len(trained.train_x)
    if trained.epsilon is not None:
        delta = trained.delta if trained.delta is not None else 0.0
        check = dp_bound_check(out[f"{prefix}advantage"], out[f"{prefix}advantage_margin95"],
                               trained.epsilon, delta)
        out.update({f"{prefix}{k}": v for k, v in check.items()})
        out[f"{prefix}bound_epsilon"], out[f"{prefix}bound_delta"] = trained.epsilon, delta
    return out


def workload_trained_model(workload: Workload) -> TrainedModel:
    """The workload's own plaintext model, with its recipe as the shadows' (shadows cached on disk)."""

    def retrain(x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
        data = dataclasses.replace(workload.dataset, x_train=x, y_train=y)

        def make() -> nn.Module:
            with torch_threads(SHADOW_THREADS):
                return workload.recipe(workload.new_model(), data, seed=seed, desc=f"shadow {seed}")

        return workload.cached("plaintext-shadow", {"seed": seed, "data": data_digest(x, y)}, make)

    ds = workload.dataset
    return TrainedModel(model=workload.model, train_x=ds.x_train, train_y=ds.y_train, retrain=retrain)


def audit_workload_model(workload: Workload, shadows: int = SHADOWS) -> dict[str, Any]:
    """``plaintext_mia_*``: the audit of the workload's plaintext model, run once per workload."""
    key = (workload.key, shadows, NONMEMBER_FRACTION)
    if key not in _plaintext_audits:
        ds = workload.dataset
        _plaintext_audits[key] = audit_trained_model(
            workload_trained_model(workload), ds.x_test, ds.y_test, shadows, seed=workload.seed,
            prefix="plaintext_mia_")
    return dict(_plaintext_audits[key])


def audit_training(workload: Workload, pipeline: Any, shadows: int = SHADOWS) -> dict[str, Any]:
    """What the harness calls after timing: {} unless the pipeline trained a model."""
    offer = getattr(pipeline, "trained_model", None)
    trained = offer() if callable(offer) else None
    if trained is None:
        return {}
    if not isinstance(trained, TrainedModel):
        raise TypeError(f"trained_model() must return a nesabench.pipeline.TrainedModel or None, "
                        f"got {type(trained).__name__}")
    log.info("membership audit: %s's trained model and the workload's plaintext model", workload.name)
    ds = workload.dataset
    out = audit_trained_model(trained, ds.x_test, ds.y_test, shadows, seed=workload.seed)
    out.update(audit_workload_model(workload, shadows))
    return out
