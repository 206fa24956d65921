"""What an EE node that does NOT know the original weights recovers: a surrogate model's attack.

With ``harness.attacker_knows_model=false`` the node's folded weights have nothing public to be
matched against, so weight matching is not used. The attacker instead trains a surrogate of the
same architecture on its own labelled data, describes each coordinate of the surrogate's
activations at every layer the node exposes by its mean, std and sorted values (a grid of
quantiles, on the activations' own scale), does the same for the node's permuted views, and assigns
the two with ``linear_sum_assignment``. It
then un-permutes the views and reads the input with a probe trained only on the surrogate's own
(activation, input) pairs: no pair of the victim's pipeline is used.

The attacker's data is the test split minus the evaluated queries: the victim was trained on the
whole train split, so this is the only labelled data of the same distribution that is disjoint from
both the victim's training data and the inputs under attack. The surrogate is the workload's own
constructor with every trainable parameter re-drawn from the attacker's seed (never the victim's
initialization); what the constructor loads frozen is public by construction and kept (minilm's
pretrained encoder: its coordinates then coincide with the victim's, only the head differs). A
surrogate trained from scratch has its own arbitrary hidden basis, so there this attack is expected
to fail on hidden keys and the record says so. The evaluator's true key (from the victim's
activations) only scores.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from nesabench.leakage.activations import layer_activations
from nesabench.leakage.key_recovery import matching_key, rows_along, unpermute
from nesabench.leakage.reconstruction import reconstruction_probe, token_probe
from nesabench.leakage.result import AttackResult, above_chance
from nesabench.leakage.significance import binomial_outcome

log = logging.getLogger(__name__)

#: Below this many samples of its own the attacker cannot train a surrogate worth the name.
MIN_OWN_SAMPLES = 32
#: At most this many of its own samples are used (bounds the surrogate's training cost).
MAX_OWN_SAMPLES = 1024
#: The attacker's randomness is its own: offset from the experiment seed, never equal to it.
ATTACKER_SEED_OFFSET = 7919
#: Queries after which the fixed-key curve is read.
CURVE = (1, 4, 16, 64)
#: Sorted values of each coordinate are described by these quantiles.
QUANTILES = np.linspace(0.02, 0.98, 25)
#: Views of the node's own input whose reference is not a module's output.
EMBEDDING_LAYERS = {"input_embeds": "encoder.embeddings"}


def attacker_split(workload: Any, n_eval: int,
                   eval_inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The attacker's own labelled data: the test split after the evaluated queries (see module doc)."""
    ds = workload.dataset
    if len(ds.x_test) >= n_eval and torch.equal(ds.x_test[:n_eval], eval_inputs):
        own = slice(n_eval, min(len(ds.x_test), n_eval + MAX_OWN_SAMPLES))
        return ds.x_test[own], ds.y_test[own], "test split minus the evaluated queries"
    # The harness evaluated something other than the head of the test split: nothing in the test
    # split is known to be disjoint from it, so the attacker has no data of its own.
    return ds.x_test[:0], ds.y_test[:0], "none: the evaluated queries are not the head of the test split"


def fresh_surrogate(workload: Any, seed: int) -> nn.Module:
    """The workload's architecture with its trainable parameters re-drawn from ``seed``."""
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        model = workload.new_model()  # the constructor seeds with the victim's seed: re-draw below
        torch.manual_seed(seed)
        done: set[int] = set()
        for m in model.modules():
            own = list(m.parameters(recurse=False))
            if own and all(p.requires_grad for p in own) and callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()
                done.update(id(p) for p in own)
        with torch.no_grad():
            for p in model.parameters():  # parameters no module resets (a position table, say)
                if p.requires_grad and id(p) not in done:
                    p.copy_(torch.randn_like(p) * p.detach().std().clamp_min(1e-3))
    return model


def train_surrogate(workload: Any, x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
    """The surrogate, trained with the workload's own recipe on the attacker's data only."""
    own = dataclasses.replace(workload.dataset, x_train=x, y_train=y)
    with torch.random.fork_rng(devices=[]):
        return workload.recipe(fresh_surrogate(workload, seed), own, seed=seed, desc="surrogate")


def coordinate_descriptors(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """(d, 27): each coordinate's sorted values (quantile grid), mean and std, on its own scale.

    Not standardized across coordinates: a statistic that barely varies between coordinates
    (standardized features' means) would otherwise have its noise blown up to dominate the cost.
    """
    r = rows_along(x, axis)
    return np.column_stack([np.quantile(r, QUANTILES, axis=0).T, r.mean(0), r.std(0)])


def surrogate_key(reference: np.ndarray, observed: np.ndarray, axis: int = -1) -> np.ndarray:
    """key[j] = surrogate coordinate matched to the node's coordinate j (min total distance)."""
    a, b = coordinate_descriptors(reference, axis), coordinate_descriptors(observed, axis)
    cost = (b**2).sum(1)[:, None] + (a**2).sum(1)[None, :] - 2.0 * b @ a.T
    rows, cols = linear_sum_assignment(np.maximum(cost, 0.0))
    key = np.empty(len(b), dtype=np.int64)
    key[rows] = cols
    return key


def _axis(meta: dict[str, Any]) -> int:
    axis = meta.get("permuted_axis", -1)
    axis = -1 if axis is None else int(axis)
    return axis - 1 if axis > 0 else axis


def _activations(model: nn.Module, layer: str, x: torch.Tensor) -> np.ndarray | None:
    if layer == "input":
        return x.numpy().astype(np.float64)
    return layer_activations(model, EMBEDDING_LAYERS.get(layer, layer), x)


class SurrogateAttack:
    """Runs the surrogate attack on one node's permuted views (see module docstring)."""

    def __init__(self, weights: Any, others: list[Any], data: Any, workload: Any):
        self.others, self.data, self.workload = others, data, workload
        self.per_query = bool(weights.meta.get("per_query_key"))
        self.eval_x = data.inputs_t[data.n_attacker:]
        self.seed = int(data.seed) + ATTACKER_SEED_OFFSET
        self.own_x, self.own_y, self.own_source = attacker_split(workload, data.n_eval, self.eval_x)
        self.surrogate: nn.Module | None = None
        self.base: dict[str, Any] = {"attacker_knows_model": False, "surrogate_data": self.own_source,
                                     "surrogate_samples": len(self.own_x)}

    def run(self) -> list[AttackResult]:
        views = [s for s in self.others if s.kind == "permuted_activation" and s.layer != "input_ids"]
        if not views:
            return []
        if len(self.own_x) < MIN_OWN_SAMPLES:
            return [self._skipped(views[0].name, f"the attacker has {len(self.own_x)} samples of its own "
                                                 f"({self.own_source}); a surrogate needs {MIN_OWN_SAMPLES}")]
        self.surrogate = train_surrogate(self.workload, self.own_x, self.own_y, self.seed)
        with torch.no_grad():
            pred = self.surrogate(self.eval_x).argmax(-1).numpy()
        if self.data.labels is not None:
            self.base["surrogate_accuracy"] = float(np.mean(pred == self.data.labels[-self.data.n_eval:]))
        out: list[AttackResult] = []
        for s in views:
            try:
                out += self.attack(s)
            except Exception as err:  # one view failing must not hide the others
                log.exception("surrogate attack on %s failed", s.name)
                out.append(AttackResult("surrogate_attack_error", 0.0, view=s.name,
                                        metrics={**self.base, "error": f"{type(err).__name__}: {err}"}))
        return out

    def _skipped(self, view: str, why: str) -> AttackResult:
        # No power claimed: a skipped attack cannot back a privacy score.
        return AttackResult("surrogate_key_recovery", 0.0, target="model", view=view,
                            metrics={**self.base, "skipped": why})

    def attack(self, s: Any) -> list[AttackResult]:
        if s.meta.get("rotated"):
            return [self._skipped(s.name, "a rotated stream is not a permutation: no coordinate to match")]
        n_eval, axis = self.data.n_eval, _axis(s.meta)
        obs = np.stack([np.asarray(x, dtype=np.float64) for x in s.samples[-n_eval:]])
        reference = _activations(self.surrogate, s.layer, self.own_x)
        victim = _activations(self.workload.model, s.layer, self.eval_x)  # the evaluator's, to score only
        shapes_ok = victim is not None and victim.shape == obs.shape
        if reference is None or not shapes_ok or reference.shape[1:] != obs.shape[1:]:
            return [self._skipped(s.name, f"no surrogate activation of shape {obs.shape[1:]} at {s.layer}")]
        d = obs.shape[axis]
        if self.per_query:  # a fresh key per query: each query is matched on its own statistics
            truths = [matching_key(rows_along(p, axis), rows_along(o, axis))
                      for p, o in zip(victim, obs, strict=True)]
            keys = [surrogate_key(reference, o[None], axis) for o in obs]
            curve: dict[str, float] = {}
        else:
            truth = matching_key(rows_along(victim, axis), rows_along(obs, axis))
            truths = [truth] * n_eval
            keys = [surrogate_key(reference, obs, axis)] * n_eval
            curve = {str(k): float(np.mean(surrogate_key(reference, obs[:k], axis) == truth))
                     for k in CURVE if k <= n_eval}
        rate = float(np.mean([np.mean(k == t) for k, t in zip(keys, truths, strict=True)]))
        # One key's coordinates are the trials (as in permuted.py): d of them, chance 1/d.
        test = binomial_outcome(round(rate * d), d, 1.0 / d)
        metrics = {**self.base, "key_recovery_rate": rate, "chance": 1.0 / d, "p_value": test.p_value,
                   "per_query_key": self.per_query, "queries_needed": 1 if self.per_query else n_eval}
        if curve:
            metrics["curve"] = curve
        leak = above_chance(rate, 1.0 / d) if test.leakage > 0 else 0.0
        out = [AttackResult("surrogate_key_recovery", leak, target="model", view=s.name,
                            n_train=len(self.own_x), n_test=n_eval,
                            min_detectable=test.min_detectable, metrics=metrics)]
        fixed = np.stack([unpermute(o, k, axis) for o, k in zip(obs, keys, strict=True)])
        out.append(self.input_probe(s, reference, fixed, metrics))
        return out

    def input_probe(self, s: Any, reference: np.ndarray, fixed: np.ndarray, metrics: dict) -> AttackResult:
        """Probe trained on the surrogate's (activation, input) pairs, tested on the un-permuted views."""
        n_own, n_eval = len(reference), len(fixed)
        folds = [(np.arange(n_own), np.arange(n_own, n_own + n_eval))]
        inputs = np.concatenate([self.own_x.numpy(), self.eval_x.numpy()])
        feats = np.concatenate([reference, fixed])
        if self.data.input_kind == "tokens":
            r = token_probe(list(feats), inputs.astype(np.int64), folds, pad_id=self.data.pad_id,
                            name="surrogate_unpermuted_token_recovery")
        else:
            shape = inputs.shape[1:] if self.data.input_kind == "image" else None
            r = max(reconstruction_probe(feats.reshape(len(feats), -1), inputs, folds, image_shape=shape,
                                         data_range=self.data.data_range, seed=self.data.seed,
                                         name="surrogate_unpermuted_reconstruction"), key=lambda r: r.leakage)
        r.view = s.name
        r.metrics.update({k: v for k, v in metrics.items() if k != "curve"})
        return r


def surrogate_attacks(weights: Any, others: list[Any], data: Any, workload: Any) -> list[AttackResult]:
    """AttackResults of one node that does not know the model (see module docstring)."""
    return SurrogateAttack(weights, others, data, workload).run()
