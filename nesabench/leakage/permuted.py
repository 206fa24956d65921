"""All attacks on a ``permuted_activation`` view, as equivariant encryption produces.

The public model's activations at the view's layer are the attacker's reference. Per fold:
known-plaintext key recovery on the attacker's pairs, ciphertext-only coordinate matching against
the public model's statistics, each followed by un-permuting the evaluated views and probing the
input; plus probes on permutation-invariant features and, for token inputs, the candidate-token
attack on sorted states. The key-recovery rate is checked against the key each evaluated sample
actually carries (recovered by the evaluator from the true activations), so fixed and fresh
per-query keys are both scored.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from nesabench.leakage.activations import layer_activations
from nesabench.leakage.attribute import attribute_probe
from nesabench.leakage.coordinate_matching import match_coordinates
from nesabench.leakage.invariant_features import invariant_features, invariant_samples
from nesabench.leakage.key_recovery import known_plaintext_key, matching_key, rows_along, unpermute
from nesabench.leakage.reconstruction import r2_score, reconstruction_probe, token_probe
from nesabench.leakage.result import AttackResult, above_chance
from nesabench.leakage.significance import binomial_outcome, sequence_outcome
from nesabench.leakage.sorted_state_matching import recover_tokens

#: The candidate-token attack runs on at most this many evaluated queries, within this budget.
SORTED_STATE_QUERIES = 8
SORTED_STATE_BUDGET_S = 15.0
#: Once a fixed key is this well recovered, the (slow) fresh-key attack adds nothing.
KEY_FOUND = 0.9
SORTED_STATE_CANDIDATES = 256


def sample_axis(meta: dict[str, Any]) -> int:
    """The permuted axis within one sample (views give it for the batch; default: the last)."""
    axis = int(meta.get("permuted_axis", -1))
    return axis - 1 if axis > 0 else axis


def true_keys(plain: np.ndarray, observed: np.ndarray, axis: int) -> list[np.ndarray]:
    """The key each sample carries, recovered with full knowledge (the evaluator's ground truth)."""
    pairs = zip(plain, observed, strict=True)
    return [matching_key(rows_along(p, axis), rows_along(o, axis)) for p, o in pairs]


def _probe_unpermuted(name: str, plain: np.ndarray, fixed: np.ndarray, data: Any, rows: slice,
                      folds: list) -> list[AttackResult]:
    """Train on the attacker's plain activations, test on un-permuted evaluated views."""
    inputs = data.inputs[rows]
    if data.input_kind == "tokens":
        return [token_probe(list(fixed), inputs.astype(np.int64), folds, pad_id=data.pad_id,
                            name=f"{name}_token_recovery")]
    feats = fixed.reshape(len(fixed), -1)
    return [max(reconstruction_probe(feats, inputs, folds, seed=data.seed, name=f"{name}_reconstruction",
                                     image_shape=inputs.shape[1:] if data.input_kind == "image" else None,
                                     data_range=data.data_range), key=lambda r: r.leakage)]


def _key_attack(name: str, plain: np.ndarray, obs: np.ndarray, keys: list[np.ndarray], data: Any,
                rows: slice, folds: list, axis: int) -> list[AttackResult]:
    rates, act_r2 = [], []
    fixed = plain.copy()
    for tr, te in folds:
        if name == "key_recovery":
            key = known_plaintext_key(plain[tr], obs[tr], axis)
        else:
            key = match_coordinates(plain[tr], obs[te], axis)
        for i in te:
            fixed[i] = unpermute(obs[i], key, axis)
            rates.append(float(np.mean(key == keys[i])))
        act_r2.append(r2_score(plain[te].reshape(len(te), -1), fixed[te].reshape(len(te), -1)))
    rate = float(np.mean(rates))
    d = keys[0].shape[0]
    # Coordinates of one key are the trials; keys of different samples may be one fixed key, so
    # only one sample's worth (d coordinates) counts towards the test.
    test = binomial_outcome(round(rate * d), d, 1.0 / d)
    metrics = {"key_recovery_rate": rate, "chance": 1.0 / d, "activation_r2": float(np.mean(act_r2)),
               "p_value": test.p_value}
    out = [AttackResult(name, above_chance(rate, 1.0 / d) if test.leakage > 0 else 0.0, target="model",
                        n_train=len(folds[0][0]), n_test=len(rates), min_detectable=test.min_detectable,
                        metrics=metrics)]
    for r in _probe_unpermuted(name, plain, fixed, data, rows, folds):
        r.metrics.update(metrics)
        out.append(r)
    return out


def visible_mask(s: Any, i: int, ids: np.ndarray, pad_id: int) -> np.ndarray:
    """Which positions of query ``i`` hold real tokens, as the node sees them.

    The attention mask travels with the query in the clear (a view may carry it in
    ``meta["attention_mask"]``); without it, it equals the victim's non-pad positions, which is
    the same information, and nothing else of the victim's ids reaches the attacker.
    """
    masks = s.meta.get("attention_mask")
    if masks is not None and len(masks) > i:
        return np.asarray(masks[i]).astype(bool).ravel()
    return np.asarray(ids[i]) != pad_id


def _sorted_state_attack(s: Any, data: Any, model: Any, rows: slice, folds: list) -> AttackResult:
    """Candidates come from the attacker's own corpus (the workload's train split), never the victim's."""
    ids = data.inputs[rows].astype(np.int64)
    tr, te = folds[0]
    own = np.asarray(data.public_ids if data.public_ids is not None else ids[tr], dtype=np.int64)
    own_tokens = own[own != data.pad_id]
    counts = np.bincount(own_tokens.ravel())
    cand = np.nonzero(counts)[0]
    cand = cand[np.argsort(-counts[cand], kind="stable")][:SORTED_STATE_CANDIDATES]
    candidates = torch.as_tensor(cand)
    # Chance: the best constant guess per position, learned from the attacker's own corpus too.
    const = np.array([np.bincount(own[:, j]).argmax() if j < own.shape[1] else data.pad_id
                      for j in range(ids.shape[1])])

    def states(batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(layer_activations(model, s.layer, batch, batch=512))

    hits, chance_hits, queries, t0 = [], [], 0, time.perf_counter()
    for i in te[:SORTED_STATE_QUERIES]:
        queries += 1
        keep = visible_mask(s, i, ids, data.pad_id)
        known = torch.where(torch.as_tensor(keep), -1, data.pad_id)
        observed = torch.as_tensor(np.asarray(s.samples[i]))
        guess = recover_tokens(observed, states, candidates, known=known).numpy()
        if keep.any():
            hits.append(float((guess == ids[i])[keep].mean()))
            chance_hits.append(float((const == ids[i])[keep].mean()))
        if time.perf_counter() - t0 > SORTED_STATE_BUDGET_S:
            break
    test = sequence_outcome(hits, chance_hits)
    return AttackResult("sorted_state_matching", test.leakage, n_train=len(tr), n_test=len(hits),
                        ci_low=test.ci_low, ci_high=test.ci_high, min_detectable=test.min_detectable,
                        metrics={"token_recovery": test.rate, "chance": test.chance, "p_value": test.p_value,
                                 "candidates": len(cand), "queries": queries})


def permuted_view_attacks(s: Any, data: Any, model: Any) -> list[AttackResult]:
    axis = sample_axis(s.meta)
    rows, folds = data.rows(len(s.samples)), data.folds(len(s.samples))
    samples = [np.asarray(x, dtype=np.float64) for x in s.samples]
    out: list[AttackResult] = []
    if data.input_kind == "tokens":
        out.append(token_probe(invariant_samples(samples, axis), data.inputs[rows].astype(np.int64), folds,
                               pad_id=data.pad_id, name="invariant_token_recovery"))
    inv = invariant_features(samples, axis)
    if data.input_kind != "tokens":
        out.append(max(reconstruction_probe(inv, data.inputs[rows], folds, seed=data.seed,
                                            name="invariant_reconstruction"), key=lambda r: r.leakage))
    if data.labels is not None:
        out.append(attribute_probe(inv, data.labels[rows], folds, name="invariant_attribute"))
    if model is None:
        return out
    plain = layer_activations(model, s.layer, data.inputs_t[rows])
    obs = np.stack(samples)
    if plain is None or plain.shape != obs.shape:
        return out
    keys = true_keys(plain, obs, axis)
    out += _key_attack("key_recovery", plain, obs, keys, data, rows, folds, axis)
    out += _key_attack("coordinate_matching", plain, obs, keys, data, rows, folds, axis)
    key_found = max(r.metrics.get("key_recovery_rate", 0.0) for r in out) >= KEY_FOUND
    if data.input_kind == "tokens" and obs.ndim == 3 and not key_found:
        out.append(_sorted_state_attack(s, data, model, rows, folds))
    return out
