"""Per-party leakage summary: the best attack, its score and its power, turned into flat record keys.

input_privacy = 1 - the largest input leakage any attack reached on that party's views (each
attack's leakage is in [0, 1], 0 at chance); model_privacy = 1 - the largest key or weight recovery.
Not attacked is not private: a party's score is ``None`` ("not scored", with a reason) unless
  - every one of its views was attacked (none skipped, no attack failed), and
  - either an attack detected a leak, or one of its attacks could have detected a leak of at most
    MAX_DETECTABLE at the sample size used (``AttackResult.min_detectable``: the attack's power).
A detected leak of 1 (privacy 0) stands even when some views went unattacked: it cannot get lower.
The record's score is the minimum over untrusted parties, ``None`` when any party is not scored
(unless a party already scores 0). Each party's power is kept as ``leakage.<party>.<target>_detectable``
and the record's as ``<target>_leakage_detectable`` (the weakest scored party's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nesabench.leakage.result import AttackResult

#: A party counts as scored only if one of its attacks could detect a leak this small (or smaller).
MAX_DETECTABLE = 0.5
TARGETS = ("input", "model")
NOT_SCORED = "not scored"


@dataclass
class Verdict:
    """A party's (or the record's) score for one target, or why there is none."""

    privacy: float | None
    detectable: float | None = None
    reason: str = ""


@dataclass
class PartySummary:
    party: str
    results: list[AttackResult] = field(default_factory=list)
    #: Views of this party that no attack covered (skipped series, attacks that raised), with why.
    unattacked: list[str] = field(default_factory=list)

    def best(self, target: str) -> AttackResult | None:
        pool = [r for r in self.results if r.target == target]
        # Ties (to 3 decimals) go to the attack listed first: recovery before dependence.
        return max(pool, key=lambda r: round(r.leakage, 3)) if pool else None

    def detectable(self, target: str) -> float:
        """Smallest leakage any attack on this target could have detected (inf: none could)."""
        powers = [r.min_detectable for r in self.results
                  if r.target == target and r.min_detectable is not None]
        return min(powers, default=math.inf)

    def verdict(self, target: str) -> Verdict:
        best, power = self.best(target), self.detectable(target)
        power_or_none = power if math.isfinite(power) else None
        if best is not None and best.leakage >= 1.0:
            return Verdict(0.0, power_or_none)
        if self.unattacked:
            leak = best.leakage if best is not None else 0.0
            seen = f"; a leak of {leak:.2f} was detected on the rest" if leak > 0 else ""
            return Verdict(None, power_or_none, "; ".join(self.unattacked) + seen)
        if best is not None and best.leakage > 0:
            return Verdict(1.0 - best.leakage, power_or_none)
        if best is None:
            return Verdict(None, None, f"no attack on the {target} ran on {self.party}'s views")
        if power > MAX_DETECTABLE:
            what = "no leak at all" if not math.isfinite(power) else f"only leaks >= {power:.2f}"
            return Verdict(None, power_or_none,
                           f"underpowered: at n={best.n_test} the attacks on {self.party} could detect "
                           f"{what} (scoring needs <= {MAX_DETECTABLE}); evaluate more samples")
        return Verdict(1.0, power)

    def privacy(self, target: str) -> float | None:
        return self.verdict(target).privacy

    def first_metric(self, attack_prefix: str, metric: str) -> Any:
        """The metric from the strongest attack whose name starts with ``attack_prefix``."""
        pool = [r for r in self.results if r.attack.startswith(attack_prefix) and metric in r.metrics]
        return max(pool, key=lambda r: r.leakage).metrics[metric] if pool else None


#: (record key suffix, attack name prefix, metric) reported per party when the attack ran.
PARTY_METRICS = (
    ("r2", "reconstruction", "r2"),
    ("cosine", "reconstruction", "cosine"),
    ("psnr", "reconstruction", "psnr"),
    ("ssim", "reconstruction", "ssim"),
    ("token_recovery", "token_recovery", "token_recovery"),
    ("attribute_accuracy", "attribute", "accuracy"),
    ("attribute_chance", "attribute", "chance"),
    ("dcor", "distance_correlation", "dcor"),
    ("dcor_p", "distance_correlation", "p_value"),
    ("key_recovery", "key_recovery", "key_recovery_rate"),
    ("coordinate_matching", "coordinate_matching", "key_recovery_rate"),
    ("sorted_state_tokens", "sorted_state_matching", "token_recovery"),
    ("access_trace_tokens", "access_trace", "token_recovery"),
    ("share_bit_p", "share_bit_uniformity", "p_value"),
)


def _label(party: str, r: AttackResult | None) -> str:
    if r is None or r.leakage <= 0.0:
        return "none"
    return f"{party}:{r.attack}@{r.view}" if r.view else f"{party}:{r.attack}"


def combine(verdicts: dict[str, Verdict]) -> Verdict:
    """The record's score: the worst party's, unknown if any party is unknown (unless one is 0)."""
    if not verdicts:
        return Verdict(None, None, "no untrusted party")
    known = {p: v for p, v in verdicts.items() if v.privacy is not None}
    unknown = {p: v for p, v in verdicts.items() if v.privacy is None}
    worst = min((v.privacy for v in known.values()), default=None)
    if unknown and worst != 0.0:
        return Verdict(None, None, " | ".join(f"{p}: {v.reason}" for p, v in unknown.items()))
    powers = [v.detectable for v in known.values() if v.detectable is not None]
    return Verdict(worst, max(powers) if powers else None)


def record_keys(parties: list[PartySummary], extra: list[AttackResult] | None = None,
                reason: str = "") -> dict[str, Any]:
    """Flat keys for the run record (``extra`` holds cross-party attacks such as collusion)."""
    out: dict[str, Any] = {}
    if not parties:
        why = reason or "no untrusted party"
        for target in TARGETS:
            out.update({f"{target}_privacy": None, f"{target}_privacy_reason": why,
                        f"{target}_leakage_detectable": None})
        out.update(leakage_attack="none", model_leakage_attack="none")
        return out
    for target, label_key in (("input", "leakage_attack"), ("model", "model_leakage_attack")):
        verdicts = {s.party: s.verdict(target) for s in parties}
        total = combine(verdicts)
        out[f"{target}_privacy"] = total.privacy
        out[f"{target}_leakage_detectable"] = total.detectable
        if total.privacy is None:
            out[f"{target}_privacy_reason"] = total.reason
        leaking = [s for s in parties if verdicts[s.party].privacy is not None]
        worst = min(leaking, key=lambda s: verdicts[s.party].privacy) if leaking else None
        out[label_key] = _label(worst.party, worst.best(target)) if worst else "none"
    out["leakage_parties"] = " ".join(s.party for s in parties)
    for s in parties:
        pre = f"leakage.{s.party}"
        for target in TARGETS:
            v = s.verdict(target)
            out[f"{pre}.{target}_privacy"] = v.privacy
            out[f"{pre}.{target}_detectable"] = v.detectable
            if v.privacy is None:
                out[f"{pre}.{target}_not_scored"] = v.reason
        best = s.best("input")
        out[f"{pre}.best_attack"] = _label(s.party, best)
        out[f"{pre}.model_attack"] = _label(s.party, s.best("model"))
        if best is not None:
            out[f"{pre}.score"] = best.leakage
            out[f"{pre}.ci_low"], out[f"{pre}.ci_high"] = best.ci_low, best.ci_high
            out[f"{pre}.n_train"], out[f"{pre}.n_test"] = best.n_train, best.n_test
        out[f"{pre}.attacks"] = len(s.results)
        for key, prefix, metric in PARTY_METRICS:
            value = s.first_metric(prefix, metric)
            if value is not None:
                out[f"{pre}.{key}"] = value
    grouped: dict[tuple[str, str], list[AttackResult]] = {}
    for r in extra or []:  # one verdict per cross-party attack over every view it ran on (the worst)
        grouped.setdefault((r.attack, r.target), []).append(r)
    for (attack, target), results in grouped.items():
        pooled = PartySummary(attack, results)
        single = pooled.verdict(target)
        out[f"leakage.{attack}.{target}_privacy"] = single.privacy
        out[f"leakage.{attack}.{target}_detectable"] = single.detectable
        worst = pooled.best(target)
        if worst is not None and worst.leakage > 0:  # the view (layer) that set the pooled score
            out[f"leakage.{attack}.{target}_view"] = worst.view
    return out


def privacy_cell(value: float | None, detectable: float | None = None, digits: int = 2) -> str:
    """Table text for a privacy score: "not scored" (never 1.0) when no powered attack backs it.

    A score of 1 shows the smallest leak its attacks could have seen: "1.00 (MDE 0.12)" reads as
    "no leak of 0.12 or more went undetected", not as proof of privacy.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_SCORED
    text = f"{value:.{digits}f}"
    if value >= 1.0 and detectable is not None and math.isfinite(detectable):
        text += f" (MDE {detectable:.{digits}f})"
    return text
