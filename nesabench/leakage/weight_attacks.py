"""What a node holding EE-folded weights of a known model recovers: the key, then the input.

For every activation the node computes, the attacker finds which public parameters share its
permuted axis (the module that wrote it, or the LayerNorm/RMSNorm closing a block), recovers that
permutation from the node's weights (``weight_matching``), checks it by un-permuting the weights,
and un-permutes the activation; the un-permuted views then face the ordinary input probes. The
node's own input is un-permuted the same way (first layer's columns, or the vocabulary from the
embedding table; positions sent in the clear undo a token-order shuffle), and token models' embedded
inputs are inverted by nearest public embedding. A rotated stream (variant e) is attacked by least
squares against the public weights. The evaluator's only use of ground truth is to score.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from nesabench.leakage.activations import layer_activations
from nesabench.leakage.coordinate_matching import match_coordinates
from nesabench.leakage.key_recovery import matching_key, rows_along
from nesabench.leakage.reconstruction import r2_score, reconstruction_probe, token_probe
from nesabench.leakage.result import AttackResult, above_chance
from nesabench.leakage.significance import wilson_interval
from nesabench.leakage.weight_matching import (
    assign,
    match_axis,
    unpermute_along,
    verified_fraction,
    vocabulary_key,
)

log = logging.getLogger(__name__)

NORM_TYPES = (nn.LayerNorm, nn.RMSNorm)


def _is_norm(m: nn.Module) -> bool:
    return isinstance(m, NORM_TYPES) or type(m).__name__.endswith(("LayerNorm", "RMSNorm"))


def _writer_members(path: str, m: nn.Module, d: int) -> list[tuple[str, int]]:
    """(parameter, axis) pairs whose axis carries module ``m``'s output coordinates, if it has any."""
    pre = f"{path}." if path else ""
    if isinstance(m, (nn.Linear, nn.Conv2d)) and m.weight.shape[0] == d:
        return [(f"{pre}weight", 0)] + ([(f"{pre}bias", 0)] if m.bias is not None else [])
    if isinstance(m, nn.Embedding) and m.embedding_dim == d:
        return [(f"{pre}weight", 1)]
    if _is_norm(m) and getattr(m, "weight", None) is not None and m.weight.shape[0] == d:
        return [(f"{pre}weight", 0)] + ([(f"{pre}bias", 0)] if getattr(m, "bias", None) is not None else [])
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.num_features == d:
        return [(f"{pre}{n}", 0) for n in ("weight", "bias", "running_mean", "running_var")]
    return []


def axis_members(model: nn.Module, layer: str, d: int) -> list[tuple[str, int]]:
    """Public parameters permuted like the output of module ``layer`` (width ``d``)."""
    names = [n for n, _ in model.named_modules()]
    modules = dict(model.named_modules())
    if layer in ("input", "input_embeds"):
        # the model's input space: the first layer reading it (columns), or the first block's norm
        for n in names:
            m = modules[n]
            if isinstance(m, (nn.Linear, nn.Conv2d)) and m.weight.shape[1] == d:
                members = [(f"{n}.weight", 1)]
                if layer == "input_embeds":
                    norm = next((k for k in names if k.startswith(n.rsplit(".", 3)[0])
                                 and _is_norm(modules[k]) and _writer_members(k, modules[k], d)), None)
                    members += _writer_members(norm, modules[norm], d) if norm else []
                return members
        return []
    if layer not in modules:
        return []
    own = _writer_members(layer, modules[layer], d)
    if own:
        return own
    inner = [n for n in names if n.startswith(f"{layer}.") and _is_norm(modules[n])]
    for n in reversed(inner):  # a block's output: the norm that closes it
        if members := _writer_members(n, modules[n], d):
            return members
    for n in reversed(names[: names.index(layer)]):  # an activation or pooling: the layer before it
        if members := _writer_members(n, modules[n], d):
            return members
    return []


def _state(payload: Any) -> dict[str, torch.Tensor]:
    """A weights view's payload (view series wrap the dict in a 0-d object array)."""
    if isinstance(payload, np.ndarray) and payload.dtype == object and payload.ndim == 0:
        payload = payload.item()
    return payload if isinstance(payload, dict) else {}


def _sample_axis(meta: dict[str, Any]) -> int:
    axis = meta.get("permuted_axis", -1)
    axis = -1 if axis is None else int(axis)
    return axis - 1 if axis > 0 else axis


def _rotation(public: dict[str, torch.Tensor], node: dict[str, torch.Tensor], model: nn.Module,
              d: int) -> tuple[np.ndarray, float] | None:
    """Variant e: Q from a reader of the stream (an FFN's first linear, LayerNorm gamma folded in):
    its rows are permuted by the intermediate key, which sorted Gram rows match, then lstsq."""
    modules = dict(model.named_modules())
    names = list(modules)
    for n in names:
        m = modules[n]
        if not (isinstance(m, nn.Linear) and m.in_features == d and m.out_features > d):
            continue
        norm = next((modules[k] for k in reversed(names[: names.index(n)]) if _is_norm(modules[k])), None)
        w = public[f"{n}.weight"].double().numpy()
        if norm is not None and getattr(norm, "weight", None) is not None:
            w = w * norm.weight.detach().double().numpy()[None, :]
        w_node = node.get(f"{n}.weight")
        if w_node is None or tuple(w_node.shape) != w.shape:
            return None
        w_node = w_node.double().numpy()
        rows = assign(np.sort(w @ w.T, 1), np.sort(w_node @ w_node.T, 1))
        q, *_ = np.linalg.lstsq(w[rows], w_node, rcond=None)
        resid = float(np.abs(w[rows] @ q - w_node).max() / max(np.abs(w_node).max(), 1e-12))
        return q, resid
    return None


class WeightAttack:
    """Runs the weight-based attacks of one node on its series (see module docstring)."""

    def __init__(self, weights: Any, others: list[Any], data: Any, workload: Any):
        self.weights, self.others, self.data, self.workload = weights, others, data, workload
        self.model: nn.Module = workload.model
        self.public = {k: v.detach() for k, v in self.model.state_dict().items()}
        self.per_query = bool(weights.meta.get("per_query_key"))
        self.states = [_state(p) for p in weights.samples]
        self.full = next((s for s in self.states if len(s) == max(len(t) for t in self.states)), {})
        self.results: list[AttackResult] = []

    def state_for(self, i: int) -> dict[str, torch.Tensor]:
        return self.states[i] if self.per_query else self.full

    def key_for(self, i: int, members: list[tuple[str, int]]) -> tuple[np.ndarray | None, float]:
        state = self.state_for(i)
        key = match_axis(self.public, state, members)
        if key is None:
            return None, 0.0
        return key, verified_fraction(self.public, state, members, key)

    def run(self) -> list[AttackResult]:
        for s in self.others:
            try:
                if s.layer == "input_ids":
                    self.vocab_attack(s)
                elif s.kind == "permuted_activation":
                    self.unpermute_attack(s)
            except Exception as err:  # one attack failing must not hide the others
                log.exception("weight attack on %s failed", s.name)
                self.results.append(AttackResult("weight_attack_error", 0.0, view=s.name,
                                                 metrics={"error": f"{type(err).__name__}: {err}"}))
        for s in self.others:
            try:
                if s.kind == "permuted_activation" and s.layer not in ("input", "input_ids", "input_embeds"):
                    self.activation_only_curve(s)
            except Exception as err:
                log.exception("activation-only key curve on %s failed", s.name)
                self.results.append(AttackResult("weight_attack_error", 0.0, view=s.name,
                                                 metrics={"error": f"{type(err).__name__}: {err}"}))
        for r in self.results:
            r.metrics.setdefault("attacker_knows_model", True)
        return self.results

    def activation_only_curve(self, s: Any) -> None:
        """Ciphertext-only: the fixed key from k observed queries alone, matched against the public
        model's per-coordinate statistics on the attacker's own inputs (no weights, no pairs)."""
        if self.per_query or s.meta.get("token_order", "off") == "per_query" or s.meta.get("rotated"):
            return  # a key that changes per query has no k-query curve
        n_att, n_eval = self.data.n_attacker, self.data.n_eval
        if n_att < 8 or len(s.samples) != n_att + n_eval:
            return
        axis = _sample_axis(s.meta)
        obs = np.stack([np.asarray(x, dtype=np.float64) for x in s.samples[n_att:]])
        reference = layer_activations(self.model, s.layer, self.data.inputs_t[:n_att])
        plain = layer_activations(self.model, s.layer, self.data.inputs_t[n_att:])
        if reference is None or plain is None or plain.shape != obs.shape:
            return
        truth = matching_key(rows_along(plain, axis), rows_along(obs, axis))  # the evaluator's scoring key
        curve = {}
        for k in (1, 4, 16, 64):
            if k > n_eval:
                break
            key = match_coordinates(reference, obs[:k], axis)
            curve[k] = float(np.mean(key == truth))
        d = len(truth)
        best_k = max(curve)
        self.results.append(AttackResult(
            "activation_only_key", above_chance(curve[best_k], 1.0 / d), target="model", view=s.name,
            n_train=n_att, n_test=best_k,
            metrics={"curve": {str(k): v for k, v in curve.items()}, "chance": 1.0 / d,
                     "attacker_knows_model": True}))

    # -- token ids: vocabulary key from the embedding table ------------------------------------
    def vocab_attack(self, s: Any) -> None:
        table = next((k for k in self.full if k.endswith("word_embeddings.weight") or k == "embed.weight"),
                     None)
        if table is None or table not in self.public:
            return
        key = vocabulary_key(self.public[table], self.full[table])
        mapped = float(np.mean(key == np.arange(len(key))))  # the attacker's sanity: not the identity
        ids_node = np.stack([np.asarray(x, dtype=np.int64) for x in s.samples])
        rec = key[ids_node]
        pos = next((o for o in self.others if o.layer == "position_ids"), None)
        if pos is not None and len(pos.samples) == len(rec):  # positions in the clear undo the shuffle
            order = np.stack([np.asarray(p, dtype=np.int64) for p in pos.samples])
            undone = np.empty_like(rec)
            np.put_along_axis(undone, order, rec, axis=1)
            rec = undone
        truth = self.data.inputs[self.data.rows(len(rec))].astype(np.int64)
        keep = truth != self.data.pad_id
        hits = (rec == truth)[keep]
        rate = float(hits.mean()) if hits.size else 0.0
        lo, hi = wilson_interval(int(hits.sum()), int(hits.size))
        chance = float(np.bincount(truth[keep]).max() / max(keep.sum(), 1)) if keep.any() else 0.0
        n_vocab_ok = verified_fraction(self.public, self.full, [(table, 0)], key)
        self.results.append(AttackResult(
            "weight_vocab_key", n_vocab_ok, target="model", view="weights:model",
            metrics={"vocab_key_verified": n_vocab_ok, "vocab_identity_fraction": mapped,
                     "vocab_size": len(key)}))
        self.results.append(AttackResult(
            "weight_vocab_token_recovery", above_chance(rate, chance), view=s.name, n_test=int(hits.size),
            ci_low=lo, ci_high=hi, metrics={"token_recovery": rate, "chance": chance, "queries_needed": 1,
                                            "order_undone_by_positions": pos is not None}))

    # -- permuted activations: hidden/channel key from the weights, un-permute, probe ------------
    def unpermute_attack(self, s: Any) -> None:
        axis = _sample_axis(s.meta)
        samples = [np.asarray(x, dtype=np.float64) for x in s.samples]
        d = samples[0].shape[axis]
        members = axis_members(self.model, s.layer, d)
        fixed, rates = [], []
        rotated = bool(s.meta.get("rotated"))
        for i, x in enumerate(samples):
            if rotated:
                got = _rotation(self.public, self.state_for(i), self.model, d)
                if got is None:
                    return
                q, resid = got
                fixed.append(np.moveaxis(np.moveaxis(x, axis, -1) @ q.T, -1, axis))
                rates.append(1.0 if resid < 1e-4 else 0.0)
            else:
                if not members:
                    return
                key, rate = self.key_for(i, members)
                if key is None:
                    return
                fixed.append(unpermute_along(x, key, axis))
                rates.append(rate)
            if not self.per_query and i == 0:  # one key for every sample
                key0 = None if rotated else key
                for x2 in samples[1:]:
                    fixed.append(np.moveaxis(np.moveaxis(x2, axis, -1) @ q.T, -1, axis) if rotated
                                 else unpermute_along(x2, key0, axis))
                    rates.append(rates[0])
                break
        rate = float(np.mean(rates))
        rows = self.data.rows(len(samples))
        folds = self.data.folds(len(samples))
        arr = np.stack(fixed)
        metrics: dict[str, Any] = {"key_recovery_rate": rate, "key_verified_by_weights": rate,
                                   "members": " ".join(f"{n}:{a}" for n, a in members[:4]),
                                   "rotation": rotated, "queries_needed": 0}
        plain = None
        if s.layer not in ("input", "input_embeds"):
            plain = layer_activations(self.model, s.layer, self.data.inputs_t[rows])
        elif s.layer == "input":
            plain = self.data.inputs[rows].astype(np.float64)
        if plain is not None and plain.shape == arr.shape:
            metrics["activation_r2"] = r2_score(plain.reshape(len(arr), -1), arr.reshape(len(arr), -1))
            same = np.isclose(arr, plain, rtol=1e-4, atol=1e-5 * max(np.abs(plain).max(), 1e-12))
            metrics["exact_fraction"] = float(same.all(axis=tuple(range(1, arr.ndim))).mean())
        metrics["chance"] = 1.0 / d
        self.results.append(AttackResult("weight_key_recovery", above_chance(rate, 1.0 / d), target="model",
                                         view=s.name,
                                         n_test=len(samples), metrics=dict(metrics)))
        if s.layer == "input" and "exact_fraction" in metrics:
            frac = metrics["exact_fraction"]
            lo, hi = wilson_interval(round(frac * len(arr)), len(arr))
            self.results.append(AttackResult("weight_unpermuted_input", frac, view=s.name, n_test=len(arr),
                                             ci_low=lo, ci_high=hi, metrics=dict(metrics)))
            return
        if self.data.input_kind == "tokens":
            if s.layer == "input_embeds" or s.layer.endswith("embeddings") or s.layer == "embed":
                self.results.append(self.embedding_inversion(arr, s, rows, metrics))
            self.results.append(token_probe(list(arr), self.data.inputs[rows].astype(np.int64), folds,
                                            pad_id=self.data.pad_id, name="weight_unpermuted_token_recovery"))
            self.results[-1].metrics.update(metrics)
        else:
            inputs = self.data.inputs[rows]
            shape = inputs.shape[1:] if self.data.input_kind == "image" else None
            best = max(reconstruction_probe(arr.reshape(len(arr), -1), inputs, folds, image_shape=shape,
                                            data_range=self.data.data_range, seed=self.data.seed,
                                            name="weight_unpermuted_reconstruction"), key=lambda r: r.leakage)
            best.metrics.update(metrics)
            self.results.append(best)
        self.results[-1].view = s.name

    @torch.no_grad()
    def embedding_inversion(self, arr: np.ndarray, s: Any, rows: slice, metrics: dict) -> AttackResult:
        """Nearest public embedding per token row, over every (token, position): recovers tokens and,
        under a token-order shuffle, their original positions too."""
        n_eval = min(self.data.n_eval, len(arr))  # score on the evaluated queries only (cost: n*T*V)
        arr = arr[-n_eval:]
        ids = self.data.inputs[rows].astype(np.int64)[-n_eval:]
        n, t = ids.shape
        table = self._embedding_table(s.layer, t)
        if table is None:
            return AttackResult("weight_embedding_inversion", 0.0, view=s.name,
                                metrics={"skipped": "no table"})
        obs = torch.from_numpy(arr.reshape(n * t, -1)).float()
        best_d = torch.full((n * t,), float("inf"))
        best_tok = torch.zeros(n * t, dtype=torch.long)
        best_pos = torch.zeros(n * t, dtype=torch.long)
        for pos in range(t):
            emb = table(pos)  # (V, d)
            parts = [torch.cdist(chunk, emb).min(1) for chunk in obs.split(256)]
            dmin = torch.cat([p.values for p in parts])
            arg = torch.cat([p.indices for p in parts])
            better = dmin < best_d
            best_d[better], best_tok[better], best_pos[better] = dmin[better], arg[better], pos
        shuffled = s.meta.get("token_order", "off") != "off"
        guess = best_tok.view(n, t).numpy()
        if shuffled:
            placed = np.full_like(ids, -1)
            pos = best_pos.view(n, t).numpy()
            for i in range(n):
                placed[i, pos[i]] = guess[i]
            guess = placed
        keep = ids != self.data.pad_id
        hits = (guess == ids)[keep]
        rate = float(hits.mean()) if hits.size else 0.0
        chance = float(np.bincount(ids[keep]).max() / max(keep.sum(), 1)) if keep.any() else 0.0
        lo, hi = wilson_interval(int(hits.sum()), int(hits.size))
        return AttackResult("weight_embedding_inversion", above_chance(rate, chance), view=s.name,
                            n_test=int(hits.size), ci_low=lo, ci_high=hi,
                            metrics={**metrics, "token_recovery": rate, "chance": chance,
                                     "positions_searched": t if shuffled else 0})

    def _embedding_table(self, layer: str, t: int):
        """Function pos -> (V, d) public embedding-layer outputs of every token at position pos."""
        m = self.model
        if hasattr(m, "encoder") and hasattr(m.encoder, "embeddings"):
            emb = m.encoder.embeddings
            vocab = emb.word_embeddings.num_embeddings
            all_ids = torch.arange(vocab)[:, None]
            if layer == "encoder.embeddings" or layer == "input_embeds":
                return lambda p: emb(input_ids=all_ids, position_ids=torch.full((vocab, 1), p))[:, 0]
            return None
        if hasattr(m, "embed") and hasattr(m, "pos"):
            if layer == "embed":
                return lambda p: m.embed.weight
            return lambda p: m.embed.weight + m.pos[p]
        return None


def weight_attacks(weights: Any, others: list[Any], data: Any, workload: Any,
                   attacker_knows_model: bool = True) -> list[AttackResult]:
    """AttackResults of one party from its ``weights`` series and its other series.

    An attacker who does not know the original weights gets the surrogate-model attack instead
    (``surrogate_matching``); weight matching is then recorded as not used.
    """
    if not attacker_knows_model or getattr(workload, "model", None) is None:
        skipped = AttackResult("weight_matching", 0.0, target="model", view=weights.name,
                               metrics={"attacker_knows_model": False,
                                        "skipped": "the attacker does not know the public weights"})
        if getattr(workload, "model", None) is None:
            return [skipped]
        from nesabench.leakage.surrogate_matching import surrogate_attacks

        return [*surrogate_attacks(weights, others, data, workload), skipped]
    return WeightAttack(weights, others, data, workload).run()


#: (record key suffix, attack name, metric): the numbers the EE table reads, best over views.
WEIGHT_METRICS = (
    ("weight_key_recovery", "weight_key_recovery", "key_recovery_rate"),
    ("weight_vocab_key", "weight_vocab_key", "vocab_key_verified"),
    ("weight_vocab_token_recovery", "weight_vocab_token_recovery", "token_recovery"),
    ("weight_embedding_inversion", "weight_embedding_inversion", "token_recovery"),
    ("weight_unpermuted_token_recovery", "weight_unpermuted_token_recovery", "token_recovery"),
    ("weight_unpermuted_input", "weight_unpermuted_input", "exact_fraction"),
    ("weight_unpermuted_r2", "weight_unpermuted_reconstruction", "r2"),
    ("weight_activation_r2", "weight_key_recovery", "activation_r2"),
    ("surrogate_key_recovery", "surrogate_key_recovery", "key_recovery_rate"),
    ("surrogate_unpermuted_token_recovery", "surrogate_unpermuted_token_recovery", "token_recovery"),
    ("surrogate_unpermuted_r2", "surrogate_unpermuted_reconstruction", "r2"),
    ("surrogate_accuracy", "surrogate_key_recovery", "surrogate_accuracy"),
    ("surrogate_samples", "surrogate_key_recovery", "surrogate_samples"),
)
#: Key-recovery curves over k observed queries: (attack name, record key stem).
CURVES = (("activation_only_key", "activation_only_key_q"), ("surrogate_key_recovery", "surrogate_key_q"))


def weight_record_keys(party: str, results: list[AttackResult]) -> dict[str, Any]:
    """Flat record keys ``leakage.<party>.<metric>`` for the weight attacks that ran on ``party``."""
    out: dict[str, Any] = {}
    stems = dict(CURVES)
    for r in results:
        for k, v in r.metrics.get("curve", {}).items() if r.attack in stems else ():
            name = f"leakage.{party}.{stems[r.attack]}{k}"
            out[name] = max(out.get(name, 0.0), float(v))
    for key, prefix, metric in WEIGHT_METRICS:
        values = [r.metrics[metric] for r in results if r.attack.startswith(prefix) and metric in r.metrics
                  and r.metrics[metric] is not None and np.isfinite(r.metrics[metric])]
        if values:
            out[f"leakage.{party}.{key}"] = float(max(values))
    source = next((r.metrics["surrogate_data"] for r in results if "surrogate_data" in r.metrics), None)
    if source is not None:  # where the surrogate's training data came from
        out[f"leakage.{party}.surrogate_data"] = source
    return out
