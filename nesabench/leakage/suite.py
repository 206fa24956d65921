"""The attack suite: every attack that applies to each untrusted party's views, then a summary.

It pairs every view with the input it came from, adds attacker-side pairs from the train split
when the pipeline is cheap enough to run again (never timed), runs every attack that applies to
each view kind, and summarizes per party (see ``summary``). Attacker data never includes the
evaluated inputs: probes train on attacker pairs (or on other folds of the evaluated pairs) and
are scored on the evaluated inputs.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nesabench.leakage import views as V
from nesabench.leakage.access_trace import access_trace_attack
from nesabench.leakage.attribute import attribute_probe
from nesabench.leakage.ciphertext_probe import ciphertext_probes
from nesabench.leakage.distance_correlation import distance_correlation
from nesabench.leakage.permuted import permuted_view_attacks
from nesabench.leakage.reconstruction import reconstruction_probe, token_probe
from nesabench.leakage.result import AttackResult
from nesabench.leakage.shares import bit_uniformity, collusion_sweep
from nesabench.leakage.side_channels import side_channel_probe
from nesabench.leakage.significance import wilson_interval
from nesabench.leakage.summary import PartySummary, record_keys
from nesabench.leakage.view_selection import select_views
from nesabench.pipeline import TRUSTED_PARTIES, PartyView

log = logging.getLogger(__name__)

#: Attacker-side pairs gathered by running the pipeline on train inputs, at most.
MAX_ATTACKER_SAMPLES = 256
#: Wall-clock budget for gathering them; a pipeline slower than this per batch gives none.
ATTACKER_BUDGET_S = 10.0
#: Below this many attacker pairs, probes use 4-fold cross-validation on the evaluated pairs.
MIN_ATTACKER_SAMPLES = 32
FOLDS = 4
#: Below this many evaluated pairs (and too few attacker pairs), no probe can be trained and tested.
MIN_EVAL_SAMPLES = 2 * FOLDS
#: Batch size for attacker-side calls when the pipeline accepts it.
ATTACKER_BATCH = 32

Fold = tuple[np.ndarray, np.ndarray]


@dataclass
class AttackData:
    """Inputs (attacker pairs first, then evaluated), labels and how probes split them."""

    inputs: np.ndarray
    inputs_t: torch.Tensor
    labels: np.ndarray | None
    n_attacker: int
    n_eval: int
    input_kind: str
    pad_id: int
    data_range: float
    seed: int
    #: The attacker's own text (the workload's train split, token inputs only): candidates and
    #: statistics an attacker draws without any of the victim's inputs.
    public_ids: np.ndarray | None = None

    def folds(self, n_samples: int) -> list[Fold]:
        """Train on attacker pairs, test on evaluated ones; or cross-validate the evaluated ones.

        A series holds either every pair (attacker first) or only the evaluated ones.
        """
        with_attacker = n_samples == self.n_attacker + self.n_eval
        n_att = self.n_attacker if with_attacker else 0
        eval_idx = np.arange(n_att, n_att + self.n_eval)
        if n_att >= MIN_ATTACKER_SAMPLES:
            return [(np.arange(n_att), eval_idx)]
        parts = np.array_split(np.random.default_rng(self.seed).permutation(eval_idx), FOLDS)
        folds = []
        for i, test in enumerate(parts):
            train = np.concatenate([np.arange(n_att), *(p for j, p in enumerate(parts) if j != i)])
            folds.append((train.astype(np.int64), test))
        return folds

    def rows(self, n_samples: int) -> slice:
        """Which inputs a series of ``n_samples`` samples pairs with (eval-only series: the last ones)."""
        total = self.n_attacker + self.n_eval
        return slice(total - n_samples, total)


def _batch_sizes(n: int, calls: int) -> list[int]:
    size = math.ceil(n / max(calls, 1))
    return [min(size, n - i) for i in range(0, n, size)] if n else []


@dataclass(frozen=True)
class AttackerBudget:
    """How many attacker-side pairs to gather at most, and in how much wall time (the harness's
    ``leakage_attacker_samples`` / ``leakage_attacker_s``). Gathering stops at whichever comes first;
    fewer than MIN_ATTACKER_SAMPLES pairs means probes cross-validate on the evaluated pairs."""

    max_samples: int = MAX_ATTACKER_SAMPLES
    seconds: float = ATTACKER_BUDGET_S

    def affordable(self, per_sample_s: float, available: int) -> int:
        return int(min(self.max_samples, available, self.seconds / max(per_sample_s, 1e-9)))


def attacker_pairs(workload: Any, pipeline: Any, batch: int, per_sample_s: float | None = None,
                   budget: AttackerBudget | None = None,
                   ) -> tuple[torch.Tensor, list[list[PartyView]], list[int]]:
    """Run the pipeline on train inputs (attacker-side data) while it stays within the budget.

    One call at the harness's batch size is timed first; the pipeline then gets as many samples as
    the budget allows, in batches of up to ATTACKER_BATCH when the first call worked at that size.
    When the harness already measured the per-sample latency and the budget cannot buy enough
    pairs to train a probe on, no call is made at all (one real TFHE call can take minutes).
    """
    x, views, sizes, _ = _gather(workload, pipeline, batch, per_sample_s, budget or AttackerBudget())
    return x, views, sizes


def _gather(workload: Any, pipeline: Any, batch: int, per_sample_s: float | None, budget: AttackerBudget
            ) -> tuple[torch.Tensor, list[list[PartyView]], list[int], bool]:
    """``attacker_pairs``, and whether time (rather than the sample cap) is what limited them."""
    x_train = workload.dataset.x_train
    wanted = min(budget.max_samples, len(x_train))

    def short_of_time(per_sample: float) -> bool:
        return budget.seconds / max(per_sample, 1e-9) < wanted

    if pipeline is None or not callable(getattr(pipeline, "infer", None)) or len(x_train) == 0:
        return x_train[:0], [], [], False
    if per_sample_s is not None and budget.affordable(per_sample_s, len(x_train)) < MIN_ATTACKER_SAMPLES:
        return x_train[:0], [], [], short_of_time(per_sample_s)
    xs, vs = [], []
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            first = x_train[:batch]
            pipeline.infer(first)
            xs.append(first)
            vs.append(pipeline.views())
            per_sample = (time.perf_counter() - t0) / len(first)
            n = budget.affordable(per_sample, len(x_train))
            step = max(batch, min(ATTACKER_BATCH, n - len(first)))
            if step != batch and n > len(first):
                try:
                    t1 = time.perf_counter()
                    pipeline.infer(x_train[len(first) : len(first) + step])
                    vs.append(pipeline.views())
                    xs.append(x_train[len(first) : len(first) + step])
                    per_sample = (time.perf_counter() - t1) / step
                    n = budget.affordable(per_sample, len(x_train))
                except (RuntimeError, ValueError, TypeError, IndexError) as err:
                    # a pipeline built for the harness's batch size (a fixed-shape circuit, say)
                    # refuses a larger batch with a shape error: go on at the harness's batch size
                    log.info("leakage: %d-sample batches refused (%s: %s); using %d",
                             step, type(err).__name__, err, batch)
                    step = batch
            done = sum(len(b) for b in xs)
            while done + step <= n:
                if time.perf_counter() - t0 >= 2 * budget.seconds:
                    return torch.cat(xs), vs, [len(b) for b in xs], True
                b = x_train[done : done + step]
                pipeline.infer(b)
                vs.append(pipeline.views())
                xs.append(b)
                done += len(b)
    except Exception as err:
        log.warning("leakage: attacker-side infer failed (%s); using cross-validation", err)
        return x_train[:0], [], [], False
    return torch.cat(xs), vs, [len(b) for b in xs], short_of_time(per_sample)


def _labels(workload: Any, inputs: torch.Tensor, x_att: torch.Tensor) -> np.ndarray | None:
    ds = workload.dataset
    n = len(inputs)
    if n > len(ds.x_test) or not torch.equal(ds.x_test[:n], inputs):
        return None
    return np.concatenate([ds.y_train[: len(x_att)].numpy(), ds.y_test[:n].numpy()])


def direct_read(samples: list[Any], inputs: np.ndarray) -> AttackResult:
    """The view carries the input itself: leakage = fraction of samples read off verbatim.

    Not a statistical test: one sample read verbatim is proof, so its power is 1/n.
    """
    same = [np.shape(v) == x.shape and np.allclose(np.asarray(v, dtype=np.float64), x, atol=1e-6)
            for v, x in zip(samples, inputs, strict=True)]
    lo, hi = wilson_interval(int(np.sum(same)), len(same))
    return AttackResult("direct_read", float(np.mean(same)), n_test=len(same), ci_low=lo, ci_high=hi,
                        min_detectable=1.0 / max(len(same), 1),
                        metrics={"verbatim_fraction": float(np.mean(same))})


def _array_attacks(s: V.ViewSeries, data: AttackData, model: Any) -> list[AttackResult]:
    folds = data.folds(len(s.samples))
    rows = data.rows(len(s.samples))
    inputs = data.inputs[rows]
    out: list[AttackResult] = [direct_read(s.samples[-data.n_eval :], inputs[-data.n_eval :])]
    if s.kind == "permuted_activation":
        out += permuted_view_attacks(s, data, model)
    if data.input_kind == "tokens":
        out.append(token_probe(s.samples, inputs.astype(np.int64), folds, pad_id=data.pad_id))
    feats = V.features(s)
    if data.input_kind != "tokens":
        shape = inputs.shape[1:] if data.input_kind == "image" else None
        out += reconstruction_probe(feats, inputs, folds, image_shape=shape, data_range=data.data_range,
                                    seed=data.seed)
    if data.labels is not None:
        out.append(attribute_probe(feats, data.labels[rows], folds))
    out.append(distance_correlation(inputs.reshape(len(inputs), -1), feats, seed=data.seed))
    if s.kind == "share":
        out.append(bit_uniformity(np.stack([np.asarray(x) for x in s.samples])))
    return out


def _series_attacks(s: V.ViewSeries, data: AttackData, model: Any) -> list[AttackResult]:
    rows = data.rows(len(s.samples))
    folds = data.folds(len(s.samples))
    labels = data.labels[rows] if data.labels is not None else None
    if s.kind in V.BYTES_KINDS:
        out = ciphertext_probes(s.samples, data.inputs[rows], labels, folds, seed=data.seed)
    elif s.kind == "access_trace":
        out = []
        if data.input_kind == "tokens":
            out.append(access_trace_attack(s.samples, data.inputs[rows].astype(np.int64), folds, data.pad_id))
        feats = V.features(s)
        if labels is not None:
            out.append(attribute_probe(feats, labels, folds, name="access_trace_attribute"))
        out.append(distance_correlation(data.inputs[rows].reshape(len(feats), -1), feats, seed=data.seed))
    else:
        out = _array_attacks(s, data, model)
    if labels is not None:
        out.append(side_channel_probe(np.asarray(s.nbytes), labels, folds, name="size_probe"))
        if len(s.seconds) == len(s.samples):
            out.append(side_channel_probe(np.asarray(s.seconds), labels, folds, name="timing_probe"))
    for r in out:
        r.view = r.view or s.name
    return out


def _collusion(series: list[V.ViewSeries], data: AttackData,
               layers: set[str] | None = None) -> list[AttackResult]:
    """Pool the share views of all untrusted parties holding the same layer, 1..k at a time.

    ``layers``: only these layers (a capped pass: the layers whose views were attacked); None = all.
    """
    by_layer: dict[str, list[V.ViewSeries]] = {}
    for s in series:
        if s.kind == "share" and (layers is None or s.layer in layers):
            by_layer.setdefault(s.layer, []).append(s)
    out = []
    for layer, group in by_layer.items():
        parties = sorted({s.party for s in group})
        if len(parties) < 2 or len({len(s.samples) for s in group}) != 1:
            continue
        stacks = [np.stack([np.asarray(x) for x in s.samples]) for s in group]
        if len({a.shape for a in stacks}) != 1:
            continue
        rows, folds = data.rows(len(group[0].samples)), data.folds(len(group[0].samples))
        inputs = data.inputs[rows]

        def probe(feats: np.ndarray, inputs: np.ndarray = inputs, folds: list[Fold] = folds,
                  shape: tuple[int, ...] = stacks[0].shape[1:]) -> AttackResult:
            if data.input_kind == "tokens":  # per-sample shape back, so hidden states are probed per token
                return token_probe(list(feats.reshape(len(feats), *shape)),
                                   inputs.astype(np.int64), folds, pad_id=data.pad_id)
            results = reconstruction_probe(feats, inputs, folds, seed=data.seed)
            return max(results, key=lambda res: res.leakage)

        for r in collusion_sweep(stacks, probe):
            r.view = f"share:{layer}"
            out.append(r)
    return out


def evaluate_leakage(
    workload: Any, pipeline: Any, inputs: torch.Tensor, views: list[list[PartyView]],
    per_sample_s: float | None = None, attacker_knows_model: bool = True,
    attacker_budget: AttackerBudget | None = None, views_per_party: int | None = None,
) -> dict[str, Any]:
    """Flat record keys summarizing per-party leakage (see nesabench.leakage.summary).

    ``per_sample_s`` is the technique's measured latency per sample, when the harness has it.
    ``attacker_knows_model``: whether attacks may use the public model's weights (weight views).
    ``attacker_budget``: attacker-side pairs and seconds to gather them (default: the module's caps).
    ``views_per_party``: attack at most this many views per party, chosen by
    ``view_selection.select_views`` (the views most likely to leak always among them); None = all.
    """
    t0 = time.perf_counter()
    n = len(inputs)
    sizes = _batch_sizes(n, len(views))
    if not views or not any(v.untrusted for call in views for v in call):
        # Nothing to attack is not evidence of privacy: a run that recorded no untrusted view
        # (a simulation, say) is not scored.
        return {**record_keys([], reason="no view of an untrusted party was recorded"),
                "leakage_complete": False, "leakage_eval_samples": n, "leakage_s": time.perf_counter() - t0}
    x_att, att_views, att_sizes, on_time = _gather(workload, pipeline, sizes[0] if sizes else 1, per_sample_s,
                                                   attacker_budget or AttackerBudget())
    if len(x_att) < MIN_ATTACKER_SAMPLES and n < MIN_EVAL_SAMPLES:
        # Too few pairs to train and test any probe: say so rather than score a privacy nobody tested.
        why = (f"too few samples to attack: {n} evaluated and {len(x_att)} attacker-side (probes need "
               f"{MIN_EVAL_SAMPLES} evaluated or {MIN_ATTACKER_SAMPLES} attacker-side); raise the "
               "technique's sample budget")
        return {**record_keys([], reason=why), "leakage_complete": False,
                "leakage_attacker_budget_hit": on_time, "leakage_attacker_samples": len(x_att),
                "leakage_eval_samples": n, "leakage_errors": why,
                "leakage_s": time.perf_counter() - t0}
    ds = workload.dataset
    data = AttackData(
        inputs=torch.cat([x_att, inputs]).numpy(), inputs_t=torch.cat([x_att, inputs]),
        labels=_labels(workload, inputs, x_att), n_attacker=len(x_att), n_eval=n,
        input_kind=ds.input_kind, pad_id=int(ds.meta.get("pad_id", 0)),
        data_range=float(ds.meta.get("data_range", 1.0)), seed=int(getattr(workload, "seed", 0)),
        public_ids=ds.x_train.numpy() if ds.input_kind == "tokens" else None,
    )
    series = V.collect(att_sizes + sizes, att_views + list(views))
    untrusted = [s for s in series if s.party not in TRUSTED_PARTIES]
    held_weights = [s for s in untrusted if s.kind == "weights"]  # attacked by weight_attacks (EE)
    untrusted = [s for s in untrusted if s.kind != "weights"]
    model = getattr(workload, "model", None) if attacker_knows_model else None  # public-model attacks
    by_party: dict[str, list[V.ViewSeries]] = {}
    for s in untrusted:
        by_party.setdefault(s.party, []).append(s)
    chosen = {party: select_views(group, views_per_party) for party, group in by_party.items()}
    attacked = [s for s in untrusted if any(s is a for a in chosen[s.party].attacked)]
    skipped = [f"{party}:{s.name}" for party, sel in chosen.items() for s in sel.skipped]
    summaries: dict[str, PartySummary] = {}
    errors: list[str] = []
    for s in attacked:
        summary = summaries.setdefault(s.party, PartySummary(s.party))
        if s.meta.get("weights") == "plain" or s.meta.get("holds_plain_weights"):
            summary.results.append(AttackResult("holds_plain_weights", 1.0, target="model", view=s.name,
                                                min_detectable=0.0))
        if len(s.samples) not in (n, n + len(x_att)):
            log.warning("leakage: view %s of %s has %d samples for %d inputs; skipped",
                        s.name, s.party, len(s.samples), n)
            summary.unattacked.append(f"view {s.name} skipped: {len(s.samples)} samples for {n} inputs")
            continue
        try:
            summary.results.extend(_series_attacks(s, data, model))
        except Exception as err:  # an attack that breaks is reported, the run record still lands
            log.exception("leakage: attacks on %s of %s failed", s.name, s.party)
            errors.append(f"{s.party}:{s.name}: {type(err).__name__}: {err}")
            summary.unattacked.append(f"attacks on {s.name} failed: {type(err).__name__}")
    for w in held_weights:
        try:
            from nesabench.leakage.weight_attacks import weight_attacks

            summaries.setdefault(w.party, PartySummary(w.party)).results[:0] = weight_attacks(
                w, [s for s in untrusted if s.party == w.party], data, workload, attacker_knows_model)
        except Exception as err:
            log.exception("leakage: weight attacks on %s failed", w.party)
            errors.append(f"{w.party}:{w.name}: {type(err).__name__}: {err}")
            summaries.setdefault(w.party, PartySummary(w.party)).unattacked.append(
                f"weight attacks on {w.name} failed: {type(err).__name__}")
    try:
        pooled = None if not skipped else {s.layer for s in attacked if s.kind == "share"}
        extra = _collusion(untrusted, data, pooled)
    except Exception as err:
        log.exception("leakage: collusion sweep failed")
        extra, errors = [], [*errors, f"collusion: {type(err).__name__}: {err}"]
    out = record_keys(list(summaries.values()), extra)
    if on_time:  # gathering stopped on its time budget, short of the sample cap
        out["leakage_attacker_budget_hit"] = True
    # How much of the views the pass attacked: all of them unless harness.leakage_views_per_party
    # capped it (harness=table); the skipped ones are named, so the sample reads as a sample.
    out.update({"leakage.views_attacked": len(attacked), "leakage.views_total": len(untrusted),
                "leakage.views_per_party": views_per_party})
    if skipped:
        out["leakage.views_skipped"] = " ".join(skipped)
    held: dict[str, set[str]] = {}
    for s in untrusted:
        if s.kind == "share":
            held.setdefault(s.layer, set()).add(s.party)
    out["leakage.collusion_layers_total"] = sum(len(p) >= 2 for p in held.values())
    out["leakage.collusion_layers_attacked"] = len({r.view for r in extra})
    out.update({"leakage_attacker_samples": len(x_att), "leakage_eval_samples": n,
                "leakage_s": time.perf_counter() - t0, "attacker_knows_model": attacker_knows_model})
    if held_weights:  # EE: the weight attacks' own numbers (key recovered, tokens read back)
        from nesabench.leakage.weight_attacks import weight_record_keys

        for party, summary in summaries.items():
            out.update(weight_record_keys(party, summary.results))
    out["leakage_complete"] = not errors and not any(p.unattacked for p in summaries.values())
    if errors:
        out["leakage_errors"] = " | ".join(errors)
    return out
