"""Membership inference: does a model's output reveal whether a sample was in its training set?

This is training-data leakage through outputs, a separate threat model from input leakage to the
node: it is what differential privacy bounds, and it is the same for every technique that returns
the plaintext model's outputs. Two attacks:

- LOSS threshold (Yeom et al. 2018): members have lower loss; the score is the negative
  cross-entropy of the true label.
- Offline LiRA (Carlini et al. 2022): shadow models trained with the target's recipe on attacker
  data that never contains the audited samples give, per sample, the distribution of the
  logit-scaled confidence of a model that did NOT train on it; the score is how far the target's
  confidence lies above that distribution.

Members are the target's training samples; non-members are part of the held-out split; the rest
of the held-out split is the attacker's data for the shadows, so shadows never see an audited sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from nesabench.workloads.data import Dataset

#: ``train_shadow(x, y, seed) -> model`` trains one shadow with the target's recipe.
ShadowTrainer = Callable[[torch.Tensor, torch.Tensor, int], nn.Module]


@dataclass(frozen=True)
class MembershipSplit:
    """Who is audited as member / non-member, and what the attacker may train shadows on."""

    member_x: torch.Tensor
    member_y: torch.Tensor
    nonmember_x: torch.Tensor
    nonmember_y: torch.Tensor
    attacker_x: torch.Tensor
    attacker_y: torch.Tensor

    def describe(self) -> dict[str, Any]:
        return {
            "members": len(self.member_x),
            "nonmembers": len(self.nonmember_x),
            "attacker_samples": len(self.attacker_x),
        }


@dataclass(frozen=True)
class AttackResult:
    """ROC summary of one attack: AUC, best advantage max(TPR - FPR), TPR at 1% FPR."""

    auc: float
    advantage: float
    tpr_at_1pct_fpr: float


def membership_split(dataset: Dataset, attacker_fraction: float = 0.5, seed: int = 0) -> MembershipSplit:
    """Members = the whole train split; the test split is shuffled and cut into attacker / non-members."""
    if not 0.0 < attacker_fraction < 1.0:
        raise ValueError(f"attacker_fraction must lie in (0, 1), got {attacker_fraction}")
    order = torch.randperm(len(dataset.x_test), generator=torch.Generator().manual_seed(seed))
    n_attacker = round(attacker_fraction * len(order))
    if n_attacker < 1 or n_attacker >= len(order):
        raise ValueError(
            f"attacker_fraction {attacker_fraction} leaves no attacker or no non-member sample "
            f"out of {len(order)} held-out samples"
        )
    att, non = order[:n_attacker], order[n_attacker:]
    return MembershipSplit(
        member_x=dataset.x_train, member_y=dataset.y_train,
        nonmember_x=dataset.x_test[non], nonmember_y=dataset.y_test[non],
        attacker_x=dataset.x_test[att], attacker_y=dataset.y_test[att],
    )


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)]).float()


def loss_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Negative per-sample cross-entropy: higher means "more likely a member"."""
    return (-nn.functional.cross_entropy(_logits(model, x), y, reduction="none")).numpy()


def logit_confidence(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """log(p_y / (1 - p_y)), computed stably as logit_y - logsumexp(other logits) (LiRA's statistic)."""
    z = _logits(model, x)
    true = z.gather(1, y[:, None]).squeeze(1)
    others = z.scatter(1, y[:, None], float("-inf"))
    return (true - torch.logsumexp(others, dim=1)).numpy()


def lira_offline_scores(target: np.ndarray, shadows: np.ndarray, fixed_variance: bool = True) -> np.ndarray:
    """One-sided LiRA score (target - mean_out) / std_out per sample; ``shadows`` is (n_shadows, n).

    With few shadows a per-sample std is unreliable, so ``fixed_variance`` uses one std pooled over
    all samples, as Carlini et al. recommend for small shadow counts.
    """
    if shadows.ndim != 2 or shadows.shape[1] != len(target) or len(shadows) < 2:
        raise ValueError(f"need >= 2 shadows with {len(target)} samples each, got shape {shadows.shape}")
    mu = shadows.mean(axis=0)
    var = shadows.var(axis=0, ddof=1)
    std = np.sqrt(var.mean()) if fixed_variance else np.sqrt(var)
    return (target - mu) / np.maximum(std, 1e-6)


def roc_summary(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> AttackResult:
    """AUC, max(TPR - FPR) over thresholds, and the best TPR with FPR <= 1%."""
    labels = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    scores = np.r_[member_scores, nonmember_scores]
    fpr, tpr, _ = roc_curve(labels, scores)
    low = fpr <= 0.01
    return AttackResult(
        auc=float(roc_auc_score(labels, scores)),
        advantage=float(np.max(tpr - fpr)),
        tpr_at_1pct_fpr=float(tpr[low].max()) if low.any() else 0.0,
    )


def dp_advantage_bound(epsilon: float, delta: float) -> float:
    """Largest membership advantage (TPR - FPR) any attack can have on an (epsilon, delta)-DP model."""
    if epsilon < 0 or not 0.0 <= delta < 1.0:
        raise ValueError(f"need epsilon >= 0 and 0 <= delta < 1, got epsilon={epsilon}, delta={delta}")
    if epsilon > 700:
        return 1.0
    e = math.exp(epsilon)
    return min(1.0, (e - 1.0 + 2.0 * delta) / (e + 1.0))


def advantage_margin(n_members: int, n_nonmembers: int, alpha: float = 0.05) -> float:
    """Sampling error of a measured max(TPR - FPR): the two-sample Kolmogorov-Smirnov critical value.

    The measured advantage is the KS statistic between member and non-member scores, so with
    probability 1 - alpha it exceeds the true advantage by at most this much.
    """
    c = math.sqrt(-0.5 * math.log(alpha / 2.0))
    return c * math.sqrt((n_members + n_nonmembers) / (n_members * n_nonmembers))


def shadow_confidences(
    split: MembershipSplit, train_shadow: ShadowTrainer, n_shadows: int, shadow_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train shadows on random subsets of the attacker data; their confidences on members, non-members."""
    if not 0.0 < shadow_fraction <= 1.0:
        raise ValueError(f"shadow_fraction must lie in (0, 1], got {shadow_fraction}")
    n_sub = max(2, round(shadow_fraction * len(split.attacker_x)))
    members, nonmembers = [], []
    for i in range(n_shadows):
        gen = torch.Generator().manual_seed(seed * 1000 + i)
        idx = torch.randperm(len(split.attacker_x), generator=gen)[:n_sub]
        shadow = train_shadow(split.attacker_x[idx], split.attacker_y[idx], seed * 1000 + i)
        members.append(logit_confidence(shadow, split.member_x, split.member_y))
        nonmembers.append(logit_confidence(shadow, split.nonmember_x, split.nonmember_y))
    return np.stack(members), np.stack(nonmembers)


def membership_audit(
    model: nn.Module,
    split: MembershipSplit,
    train_shadow: ShadowTrainer | None = None,
    n_shadows: int = 4,
    shadow_fraction: float = 0.5,
    seed: int = 0,
    prefix: str = "mia_",
) -> dict[str, Any]:
    """Run the LOSS attack and (with >= 2 shadows) offline LiRA; flat record keys under ``prefix``.

    ``<prefix>auc / advantage / tpr_at_1pct_fpr`` are those of the strongest attack (highest
    advantage), named in ``<prefix>attack``; each attack's own numbers are kept as well.
    """
    if n_shadows < 0 or n_shadows == 1:
        raise ValueError(f"n_shadows must be 0 (LOSS attack only) or >= 2, got {n_shadows}")
    results = {
        "loss": roc_summary(loss_scores(model, split.member_x, split.member_y),
                            loss_scores(model, split.nonmember_x, split.nonmember_y)),
    }
    if n_shadows >= 2:
        if train_shadow is None:
            raise ValueError("LiRA needs train_shadow to train the shadow models")
        sh_mem, sh_non = shadow_confidences(split, train_shadow, n_shadows, shadow_fraction, seed)
        target = np.r_[logit_confidence(model, split.member_x, split.member_y),
                       logit_confidence(model, split.nonmember_x, split.nonmember_y)]
        z = lira_offline_scores(target, np.concatenate([sh_mem, sh_non], axis=1))
        results["lira"] = roc_summary(z[: len(split.member_x)], z[len(split.member_x):])
    best = max(results, key=lambda k: results[k].advantage)
    out: dict[str, Any] = {f"{prefix}{k}": v for k, v in split.describe().items()}
    out[f"{prefix}shadows"] = n_shadows
    out[f"{prefix}attack"] = best
    out[f"{prefix}auc"] = results[best].auc
    out[f"{prefix}advantage"] = results[best].advantage
    out[f"{prefix}tpr_at_1pct_fpr"] = results[best].tpr_at_1pct_fpr
    out[f"{prefix}advantage_margin95"] = advantage_margin(len(split.member_x), len(split.nonmember_x))
    for name, r in results.items():
        out.update({f"{prefix}{name}_auc": r.auc, f"{prefix}{name}_advantage": r.advantage,
                    f"{prefix}{name}_tpr_at_1pct_fpr": r.tpr_at_1pct_fpr})
    return out
