"""Membership inference: does a model's output reveal whether a sample was in its training set?

This is training-data leakage through outputs, a separate threat model from input leakage to the
node: it is what differential privacy bounds, and it is the same for every technique that returns
the plaintext model's outputs. Two attacks:

- LOSS threshold (Yeom et al. 2018): members have lower loss; the score is the negative
  cross-entropy of the true label.
- Offline LiRA (Carlini et al. 2022): shadow models trained with the target's recipe, on as many
  samples as the target, none of them audited, give per sample the distribution of the
  logit-scaled confidence of a model that did NOT train on it; the score is how far the target's
  confidence lies above that distribution.

Members are a random subset of the target's training samples, non-members as many held-out
samples; everything else (the rest of both) is the attacker's pool for shadows. Under an
(epsilon, delta)-DP claim ``dp_bound_check`` tests the measured advantage against the bound.
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

#: ``train_shadow(x, y, seed) -> model`` trains one shadow with the target's recipe.
ShadowTrainer = Callable[[torch.Tensor, torch.Tensor, int], nn.Module]
#: Shadow i of an audit seeded s trains with seed s * SHADOW_SEED_STRIDE + i.
SHADOW_SEED_STRIDE = 1000
#: Floor on LiRA's pooled standard deviation, so identical shadows do not divide by zero.
MIN_SHADOW_STD = 1e-6
#: Scores are computed in batches of this many samples.
SCORE_BATCH = 256
#: FPR at which the low-FPR true-positive rate is read (1%, as Carlini et al. report).
LOW_FPR = 0.01


@dataclass(frozen=True)
class MembershipSplit:
    """Who is audited as member / non-member, and the pool the attacker trains shadows on.

    The pool holds every sample that is not audited (the rest of the target's training data and
    the rest of the held-out data); each shadow trains on ``shadow_samples`` of them, as many as
    the target trained on, so a shadow generalizes (and memorizes) like the target.
    """

    member_x: torch.Tensor
    member_y: torch.Tensor
    nonmember_x: torch.Tensor
    nonmember_y: torch.Tensor
    pool_x: torch.Tensor
    pool_y: torch.Tensor
    shadow_samples: int

    def describe(self) -> dict[str, Any]:
        return {
            "members": len(self.member_x),
            "nonmembers": len(self.nonmember_x),
            "shadow_pool": len(self.pool_x),
            "shadow_train_samples": self.shadow_samples,
        }


@dataclass(frozen=True)
class AttackResult:
    """ROC summary of one attack: AUC, best advantage max(TPR - FPR), TPR at 1% FPR."""

    auc: float
    advantage: float
    tpr_at_1pct_fpr: float


#: Share of the held-out data audited as non-members (as many training samples are audited as
#: members). At most 1/2, so that the samples left for shadows are at least as many as the target's.
NONMEMBER_FRACTION = 0.4


def membership_split(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    heldout_x: torch.Tensor,
    heldout_y: torch.Tensor,
    nonmember_fraction: float = NONMEMBER_FRACTION,
    seed: int = 0,
) -> MembershipSplit:
    """Audit ``nonmember_fraction`` of the held-out data as non-members and as many training samples
    as members (balanced); every other sample goes to the shadow pool.

    The target trained on all of ``train_x``; shadows train on ``len(train_x)`` pool samples each.
    """
    n_train, n_held = len(train_x), len(heldout_x)
    if not 0.0 < nonmember_fraction <= 0.5:
        raise ValueError(
            f"nonmember_fraction={nonmember_fraction} is not accepted; it must lie in (0, 0.5] so that "
            "shadows can train on as many samples as the target"
        )
    n = min(round(nonmember_fraction * n_held), n_train)
    if n < 1:
        raise ValueError(f"nonmember_fraction {nonmember_fraction} of {n_held} held-out samples audits none")
    gen = torch.Generator().manual_seed(seed)
    train_order, held_order = torch.randperm(n_train, generator=gen), torch.randperm(n_held, generator=gen)
    members, rest_train = train_order[:n], train_order[n:]
    nonmembers, rest_held = held_order[:n], held_order[n:]
    pool_x = torch.cat([train_x[rest_train], heldout_x[rest_held]])
    pool_y = torch.cat([train_y[rest_train], heldout_y[rest_held]])
    if len(pool_x) < n_train:
        raise ValueError(
            f"the shadow pool has {len(pool_x)} samples, fewer than the {n_train} the target trained on; "
            "lower nonmember_fraction"
        )
    return MembershipSplit(
        member_x=train_x[members], member_y=train_y[members],
        nonmember_x=heldout_x[nonmembers], nonmember_y=heldout_y[nonmembers],
        pool_x=pool_x, pool_y=pool_y, shadow_samples=n_train,
    )


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor, batch: int = SCORE_BATCH) -> torch.Tensor:
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
    return (target - mu) / np.maximum(std, MIN_SHADOW_STD)


def roc_summary(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> AttackResult:
    """AUC, max(TPR - FPR) over thresholds, and the best TPR with FPR <= 1%."""
    labels = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    scores = np.r_[member_scores, nonmember_scores]
    fpr, tpr, _ = roc_curve(labels, scores)
    low = fpr <= LOW_FPR
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
    split: MembershipSplit, train_shadow: ShadowTrainer, n_shadows: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train shadows on random pool subsets as large as the target's training set; their confidences
    on the audited members and non-members (none of which any shadow saw)."""
    members, nonmembers = [], []
    for i in range(n_shadows):
        shadow_seed = seed * SHADOW_SEED_STRIDE + i
        gen = torch.Generator().manual_seed(shadow_seed)
        idx = torch.randperm(len(split.pool_x), generator=gen)[: split.shadow_samples]
        shadow = train_shadow(split.pool_x[idx], split.pool_y[idx], shadow_seed)
        members.append(logit_confidence(shadow, split.member_x, split.member_y))
        nonmembers.append(logit_confidence(shadow, split.nonmember_x, split.nonmember_y))
    return np.stack(members), np.stack(nonmembers)


def membership_audit(
    model: nn.Module,
    split: MembershipSplit,
    train_shadow: ShadowTrainer | None = None,
    n_shadows: int = 4,
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
        sh_mem, sh_non = shadow_confidences(split, train_shadow, n_shadows, seed)
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


def dp_bound_check(advantage: float, margin: float, epsilon: float, delta: float) -> dict[str, Any]:
    """Is a measured advantage consistent with an (epsilon, delta)-DP claim? Fails when the advantage
    exceeds the bound by more than its sampling error (``margin``)."""
    bound = dp_advantage_bound(epsilon, delta)
    return {"advantage_bound": bound, "bound_respected": bool(advantage <= bound + margin)}
