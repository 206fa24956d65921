"""Per-party leakage summary: the best attack and its score, turned into flat record keys.

input_privacy = 1 - the largest input leakage any attack reached on that party's views (each
attack's leakage is in [0, 1], 0 at chance); the record's ``input_privacy`` is the minimum over
untrusted parties. model_privacy = 1 - the largest key or weight recovery. A party nobody attacked
successfully scores 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nesabench.leakage.result import AttackResult


@dataclass
class PartySummary:
    party: str
    results: list[AttackResult] = field(default_factory=list)

    def best(self, target: str) -> AttackResult | None:
        pool = [r for r in self.results if r.target == target]
        # Ties (to 3 decimals) go to the attack listed first: recovery before dependence.
        return max(pool, key=lambda r: round(r.leakage, 3)) if pool else None

    def privacy(self, target: str) -> float:
        best = self.best(target)
        return 1.0 if best is None else 1.0 - best.leakage

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


def record_keys(parties: list[PartySummary], extra: list[AttackResult] | None = None) -> dict[str, Any]:
    """Flat keys for the run record (``extra`` holds cross-party attacks such as collusion)."""
    out: dict[str, Any] = {}
    if not parties:
        out.update(input_privacy=1.0, model_privacy=1.0, leakage_attack="none", model_leakage_attack="none")
        return out
    worst_in = min(parties, key=lambda s: s.privacy("input"))
    worst_model = min(parties, key=lambda s: s.privacy("model"))
    out["input_privacy"] = worst_in.privacy("input")
    out["leakage_attack"] = _label(worst_in.party, worst_in.best("input"))
    out["model_privacy"] = worst_model.privacy("model")
    out["model_leakage_attack"] = _label(worst_model.party, worst_model.best("model"))
    out["leakage_parties"] = " ".join(s.party for s in parties)
    for s in parties:
        pre = f"leakage.{s.party}"
        best = s.best("input")
        out[f"{pre}.input_privacy"] = s.privacy("input")
        out[f"{pre}.model_privacy"] = s.privacy("model")
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
    for r in extra or []:
        out[f"leakage.{r.attack}.input_privacy"] = 1.0 - r.leakage
    return out
