"""One experiment: a workload through a technique, measured and recorded whatever happens.

The runner reads capabilities off the pipeline (``verify``, ``metrics``, ``max_eval_samples``,
``max_repeats``) and never looks at the technique's name.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from nesabench.build import build
from nesabench.config import HarnessConfig, check_pipeline, technique_parameters, validate
from nesabench.confighash import stable_hash
from nesabench.harness import provenance
from nesabench.harness.memory import PeakMemory
from nesabench.harness.timing import TimingStats, slowdown, time_calls
from nesabench.pipeline import PartyView, Pipeline, Unsupported
from nesabench.progress import duration, sweep_position
from nesabench.quality import measure_quality
from nesabench.records import ADHOC, Record, find_ok_record, load_record, summary_line, write_record
from nesabench.threads import torch_threads
from nesabench.workloads.workload import Workload, load_workload

log = logging.getLogger(__name__)


#: Harness settings that change what is measured, hence part of a run's identity.
TIMING_SETTINGS = ("warmup", "repeats", "batch_size", "eval_samples", "torch_threads", "leakage")

#: Leakage and membership-audit budgets: in a run's identity only when they differ from the default
#: (older records keep their hashes), since fewer attacker-side pairs or shadows can change a score.
LEAKAGE_BUDGET = ("leakage_attacker_samples", "leakage_attacker_s", "mia_shadows", "leakage_views_per_party")
HARNESS_DEFAULTS = {f.name: f.default for f in dataclasses.fields(HarnessConfig)}

#: Overrides that change where results go or whether a run is skipped, not what it measures.
NOT_A_VARIANT = ("paths.", "harness.resume=", "hydra.", "experiment=")


def run_config_hash(cfg: DictConfig, harness: HarnessConfig) -> str:
    """Identity of a run: what was run and how it was measured, not where results go."""
    return stable_hash({
        "workload": OmegaConf.to_container(cfg.workload, resolve=True),
        "technique": OmegaConf.to_container(cfg.technique, resolve=True),
        "harness": {k: getattr(harness, k) for k in TIMING_SETTINGS}
        | ({"max_eval_s": harness.max_eval_s} if harness.max_eval_s is not None else {})
        # what the attacker is assumed to know changes the leakage scores; in the identity only when
        # it differs from the default, so records made before it was added keep their hashes
        | ({"attacker_knows_model": False} if not harness.attacker_knows_model else {})
        | {k: getattr(harness, k) for k in LEAKAGE_BUDGET if getattr(harness, k) != HARNESS_DEFAULTS[k]},
        "seed": cfg.seed,
    })


def run_variant(overrides: list[str], sweep_keys: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The overrides a run adds to its experiment's config, beyond the experiment's own sweep.

    Two runs of ``experiment=overhead_table`` are cells of one table only if their variants are
    equal: ``technique.fhe=simulate`` or ``harness=quick`` make another table.
    """
    swept = {k.lstrip("+~") for k in sweep_keys}  # a sweep may add a key: "+workload.model.width"
    keep = []
    for o in overrides:
        key = o.lstrip("+~").split("=", 1)[0]
        if o.lstrip("+~").startswith(NOT_A_VARIANT) or key in swept:
            continue
        keep.append(o)
    return sorted(keep)


def one_line(text: str) -> str:
    """Reasons go in table cells: one line; the traceback keeps the rest."""
    return " ".join(text.split())


def batches_of(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    return [x[i : i + size] for i in range(0, len(x), size)]


def build_pipeline(cfg: DictConfig) -> Pipeline:
    """The technique, its parameters typed from its constructor; a ``ConfigError`` if they do not fit."""
    node = OmegaConf.create({k: v for k, v in cfg.technique.items() if k != "name"})
    pipeline = build(node, "technique", typed=True)
    check_pipeline(pipeline)
    return pipeline


def run_experiment(cfg: DictConfig, overrides: list[str] | None = None, experiment: str | None = None,
                   sweep_keys: list[str] | tuple[str, ...] = ()) -> Record:
    """Validate, run and record one experiment. Returns the record it wrote (or, resuming, found).

    Configuration errors (``ConfigError``) are raised before anything is loaded or timed and
    leave no record. ``experiment`` names the ``experiment=`` config the run belongs to (None:
    an ad-hoc run); ``sweep_keys`` are the keys that experiment sweeps, so the other overrides
    make the run's ``variant``.
    """
    harness = validate(cfg)
    pipeline = build_pipeline(cfg)
    runs_dir = Path(cfg.paths.results_dir) / "runs"
    record = Record(
        technique=cfg.technique.name, workload=cfg.workload.name, seed=cfg.seed,
        config_hash=run_config_hash(cfg, harness), overrides=list(overrides or []),
        experiment=experiment or ADHOC, variant=run_variant(list(overrides or []), sweep_keys),
        versions=provenance.versions(), git_rev=provenance.git_revision(),
        machine=provenance.machine(),
    )
    record.update({f"param.{k}": v for k, v in technique_parameters(cfg.technique).items()})
    position = sweep_position()
    where = f"{position.tag()} " if position else ""
    if harness.resume and (done := find_ok_record(runs_dir, record.config_hash, record.experiment)):
        log.info("%sresume: %s / %s already recorded; skipping", where, record.technique, record.workload)
        old = load_record(done)
        log.info("%s", summary_line(old, done))
        return old
    tag = f"[{record.technique} / {record.workload}]"
    if position:
        log.info("%s%s / %s starts (%s)", where, record.technique, record.workload,
                 position.status(done=position.index - 1))
    started = time.perf_counter()
    try:
        workload = load_workload(cfg.workload, cfg.seed, cfg.paths.cache_dir)
        record.train_s = workload.train_s
        record.update({"workload_parameters": model_parameter_count(workload.model)})  # scaling figures
        with torch_threads(harness.torch_threads):
            _measure(harness, workload, pipeline, record, tag)
        record.status = "ok"
    except Unsupported as err:
        record.status, record.reason = "unsupported", one_line(err.reason)
        if err.estimate:
            record.update(err.estimate)
            record.estimated = True
            record.slowdown = slowdown(record.latency_p50_s, record.plaintext_latency_p50_s)
        log.warning("%s unsupported: %s", tag, err.reason)
    except Exception as err:  # a failed run is a result; the sweep goes on
        record.status, record.reason = "failed", one_line(f"{type(err).__name__}: {err}")
        record.traceback = traceback.format_exc()
        log.error("%s failed: %s", tag, record.reason)
    record.update({"run_s": time.perf_counter() - started})
    path = write_record(record, runs_dir)
    log.info("%s", summary_line(record, path))
    end = sweep_position()
    log.info("%s%s / %s took %s%s", f"{end.tag()} " if end else "", record.technique, record.workload,
             duration(record.extra["run_s"]), f" ({end.status(done=end.index)})" if end else "")
    return record


def model_parameter_count(model: torch.nn.Module) -> int:
    """Parameters of the workload's model (trainable or frozen): the x axis of the scaling figures."""
    return sum(p.numel() for p in model.parameters())


def _measure(harness: HarnessConfig, workload: Workload, pipeline: Pipeline, record: Record,
             tag: str) -> None:
    ds = workload.dataset
    model = workload.model.eval()
    n_eval = len(ds.x_test) if harness.eval_samples is None else min(harness.eval_samples, len(ds.x_test))

    # Plaintext reference outputs, batch by batch as the technique will see them (this also warms
    # up the reference before it is timed), then its latency in this run with the same timer.
    with torch.no_grad():
        reference_all = torch.cat([model(b) for b in batches_of(ds.x_test[:n_eval], harness.batch_size)])
    timed = batches_of(ds.x_test[: max(harness.batch_size, min(len(ds.x_test), 64))], harness.batch_size)
    timed = [b for b in timed if len(b) == harness.batch_size] or timed[:1]
    ref_times = time_calls(model, timed, harness.warmup, harness.repeats)
    ref = TimingStats.of(ref_times)
    record.plaintext_latency_p50_s, record.plaintext_latency_p95_s = ref.p50, ref.p95
    record.batch_size, record.warmup = len(timed[0]), harness.warmup
    record.update({"torch_threads": torch.get_num_threads()})

    pipeline.check(workload)

    cap = getattr(pipeline, "max_eval_samples", None)
    n_eval = min(n_eval, cap) if cap else n_eval
    x_eval, y_eval, reference = ds.x_test[:n_eval], ds.y_test[:n_eval], reference_all[:n_eval]

    if hasattr(pipeline, "budget_s"):  # optional extra passes a technique may skip under a budget
        pipeline.budget_s = harness.max_eval_s
    log.info("%s prepare", tag)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        pipeline.prepare(workload)
        record.setup_s = time.perf_counter() - t0
        log.info("%s prepared in %.2fs; evaluating %d samples", tag, record.setup_s, n_eval)
        outputs, views, call_s = [], [], []
        t0 = time.perf_counter()
        with torch.no_grad():
            for b in batches_of(x_eval, harness.batch_size):
                t_call = time.perf_counter()
                out = pipeline.infer(b)
                call_s.append(time.perf_counter() - t_call)
                outputs.append(torch.as_tensor(out).reshape(len(b), *reference.shape[1:]))
                views.append(pipeline.views())
                if harness.max_eval_s is not None and time.perf_counter() - t0 > harness.max_eval_s:
                    break
        record.eval_s = time.perf_counter() - t0
    record.peak_mem_mb, record.peak_mem_delta_mb = mem.peak_mb, mem.delta_mb
    done = sum(len(o) for o in outputs)
    if done < n_eval:
        log.info("%s quality pass stopped after %d of %d samples (harness.max_eval_s=%g)", tag, done,
                 n_eval, harness.max_eval_s)
        record.update({"eval_budget_hit": True})
        x_eval, y_eval, reference = x_eval[:done], y_eval[:done], reference[:done]
    q = measure_quality(torch.cat(outputs), reference, y_eval)
    record.update(vars(q))
    record.update(view_accounting(views))

    # A technique that caps its timed calls (seconds each) gets no more warm-up calls than timed
    # ones; the quality pass above has already run it.
    repeats = min(harness.repeats, getattr(pipeline, "max_repeats", None) or harness.repeats)
    warmup = min(harness.warmup, repeats)
    if getattr(pipeline, "max_warmup", None) is not None:  # a technique may cap them too (he_tfhe: 0)
        warmup = min(warmup, pipeline.max_warmup)
    per_call = record.eval_s / max(1, len(outputs))
    from_quality_pass = (harness.max_eval_s is not None and len(timed[0]) == harness.batch_size
                         and (per_call > harness.max_eval_s  # or the technique asks (he_tfhe: real FHE)
                              or getattr(pipeline, "timed_by_quality_pass", False)))
    if from_quality_pass:
        # one call alone passes the budget (or, under a budget, the technique asks): the quality
        # pass's calls (same samples, same batch size, same timer around infer) are the timed
        # calls, rather than running it once more
        record.update({"timing_budget_hit": True, "timing_from_quality_pass": True})
        lat = TimingStats.of(call_s)
    else:
        if harness.max_eval_s is not None and per_call * (warmup + repeats) > harness.max_eval_s:
            # over the budget: as many timed calls as fit (at least one) and no warm-up beyond the
            # quality pass, which has already run the technique
            repeats, warmup = max(1, min(repeats, int(harness.max_eval_s // per_call))), 0
            record.update({"timing_budget_hit": True})
        lat = TimingStats.of(time_calls(pipeline.infer, timed, warmup, repeats))
    # The reference is timed again after the technique, so drift in machine load during the run
    # (thermal, other processes) weighs on both sides of the ratio alike.
    ref = TimingStats.of(ref_times + time_calls(model, timed, harness.warmup, harness.repeats))
    record.plaintext_latency_p50_s, record.plaintext_latency_p95_s = ref.p50, ref.p95
    record.update(lat.as_record("latency"))
    record.latency_per_sample_s = lat.p50 / record.batch_size
    record.throughput_sps = record.batch_size / lat.p50
    record.slowdown = slowdown(lat.p50, ref.p50)
    record.cpu_load_1m = os.getloadavg()[0]
    log.info("%s p50 %.3g s (plaintext %.3g s, %.3gx)", tag, lat.p50, ref.p50, record.slowdown)

    if callable(getattr(pipeline, "verify", None)):
        record.update(verification(pipeline))
    if callable(getattr(pipeline, "metrics", None)):
        record.update(pipeline.metrics())
        record.slowdown = slowdown(record.latency_p50_s, record.plaintext_latency_p50_s)  # metrics may set it
    from nesabench.harness.training_audit import audit_training  # membership audit of a trained model

    record.update(audit_training(workload, pipeline, shadows=harness.mia_shadows))
    if harness.leakage:
        from nesabench.leakage.suite import AttackerBudget, evaluate_leakage

        budget = AttackerBudget(harness.leakage_attacker_samples, harness.leakage_attacker_s)
        record.update(evaluate_leakage(workload, pipeline, x_eval, views, record.latency_per_sample_s,
                                       attacker_knows_model=harness.attacker_knows_model,
                                       attacker_budget=budget,
                                       views_per_party=harness.leakage_views_per_party))


def view_accounting(views: list[list[PartyView]]) -> dict[str, Any]:
    """Bytes untrusted parties received per inference call, and which kinds of view they got."""
    if not views:
        return {"bytes_to_nodes": 0, "view_kinds": ""}
    per_call = [sum(v.nbytes for v in call if v.untrusted and v.received) for call in views]
    kinds = sorted({f"{v.party}:{v.kind}" for call in views for v in call})
    return {"bytes_to_nodes": round(sum(per_call) / len(per_call)), "view_kinds": " ".join(kinds)}


def verification(pipeline: Any) -> dict[str, Any]:
    """Honest verification, then each tamper case the technique declares."""
    t0 = time.perf_counter()
    honest = pipeline.verify(None)
    out: dict[str, Any] = {"verified": bool(honest.verified), "verify_s": time.perf_counter() - t0}
    cases = list(getattr(pipeline, "tamper_cases", ()))
    if cases:
        detected = [not pipeline.verify(case).verified for case in cases]
        out["tamper_detection_rate"] = sum(detected) / len(detected)
        out["tamper_cases"] = " ".join(
            f"{c}={'detected' if d else 'MISSED'}" for c, d in zip(cases, detected, strict=True)
        )
    return out
