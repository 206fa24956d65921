"""EZKL zero-knowledge proofs of inference: verifiable, but the prover (the node) sees everything.

The node exports the model to ONNX, builds a halo2 circuit with EZKL (settings, calibration,
compile, keys from a locally generated SRS), then for every sample makes a witness (the quantized
circuit's outputs: the claimed result) and a proof. The verifier checks each proof against the
verification key and the public instances, and sees only what the visibility settings publish.
Transformers: attention-mask fills of "minus infinity" are made finite in the graph
(nesabench/zk/mask.py); a model with more than ``per_layer_params`` parameters is proved one encoder
layer at a time (nesabench/zk/layers.py), its cost recorded as "measured per layer x N".
"""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch

from nesabench.parameters import Range
from nesabench.pipeline import PartyView, Unsupported, VerifyResult
from nesabench.quality import accuracy, agreement
from nesabench.workloads.workload import Workload
from nesabench.zk.circuit import (
    CALIBRATION_TARGETS,
    DEFAULT_INNER_COLS,
    Circuit,
    CircuitError,
    Inputs,
    Proof,
    logrows_for,
)
from nesabench.zk.decomposition import EZKL_DECOMP_BASE, EZKL_DECOMP_LEGS, fitted_decomposition, legs_for
from nesabench.zk.layers import LayerSplit, split_layers
from nesabench.zk.mask import MASK_FILL, has_padding, with_padded_copies
from nesabench.zk.scaling import MIN_PROBE_LOGROWS, count_macs, measure_scaling
from nesabench.zk.srs import get_or_make_srs
from nesabench.zk.tamper import TAMPER_CASES, flip_proof_byte, tamper_output, tamper_public_input
from nesabench.zk.visibility import Visibility

#: Largest logrows a locally generated KZG SRS is sensible for on one machine (2^26 rows).
LOGROWS_LIMIT = 26


def _peak_mb(message: str) -> float | None:
    """The peak RSS (MB) a child-process error message reports."""
    match = re.search(r"peak RSS (\d+) MB", message)
    return float(match.group(1)) if match else None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class ZkEzklPipeline:
    """The node proves each inference with EZKL; a verifier checks every proof."""

    def __init__(
        self,
        input_visibility: Literal["private", "public", "hashed"] = "hashed",
        param_visibility: Literal["fixed", "private", "hashed"] = "fixed",
        calibration_target: Literal["resources", "accuracy"] = "resources",
        max_logrows: Annotated[int, Range(ge=1, le=26)] = 17,
        calibration_samples: Annotated[int, Range(ge=1)] = 20,
        prove_samples: Annotated[int, Range(ge=1)] = 8,
        max_repeats: Annotated[int, Range(ge=1)] = 3,
        fidelity_samples: Annotated[int, Range(ge=0)] = 200,
        max_fidelity_s: Annotated[float, Range(gt=0)] | None = None,
        scaling_logrows: Sequence[Annotated[int, Range(ge=12, le=26)]] = (12, 13, 14, 15, 16),
        check_estimate: bool = True,
        max_memory_gb: Annotated[float, Range(gt=0)] = 8.0,
        per_layer_params: Annotated[int, Range(ge=1)] = 1_000_000,
        mask_fill: Annotated[float, Range(gt=0)] = MASK_FILL,
        calibration_scales: Sequence[Annotated[int, Range(ge=0, le=20)]] | None = None,
        num_inner_cols: Annotated[int, Range(ge=1, le=64)] = DEFAULT_INNER_COLS,
        max_rows: Annotated[int, Range(ge=1)] | None = None,
        decomp_base: Annotated[int, Range(ge=2)] | Literal["fit"] = "fit",
        decomp_legs: Annotated[int, Range(ge=1)] | None = None,
    ) -> None:
        self.visibility = Visibility(input=input_visibility, params=param_visibility)
        if calibration_target not in CALIBRATION_TARGETS:
            raise ValueError(f"calibration_target={calibration_target!r} is not accepted; "
                             f"accepted: {', '.join(CALIBRATION_TARGETS)}")
        if not 1 <= max_logrows <= LOGROWS_LIMIT:
            raise ValueError(f"max_logrows={max_logrows} is not accepted; accepted: 1..{LOGROWS_LIMIT}")
        for name, value, low in (("calibration_samples", calibration_samples, 1),
                                 ("prove_samples", prove_samples, 1), ("max_repeats", max_repeats, 1),
                                 ("fidelity_samples", fidelity_samples, 0)):
            if value < low:
                raise ValueError(f"{name}={value} is not accepted; accepted: an integer >= {low}")
        for name, value in (("max_memory_gb", max_memory_gb), ("mask_fill", mask_fill)):
            if not value > 0:
                raise ValueError(f"{name}={value} is not accepted; accepted: a positive number")
        if not 1 <= num_inner_cols <= 64:
            raise ValueError(f"num_inner_cols={num_inner_cols} is not accepted; accepted: 1..64")
        if per_layer_params < 1:
            raise ValueError(f"per_layer_params={per_layer_params} is not accepted; "
                             "accepted: an integer >= 1")
        ks = sorted({int(k) for k in scaling_logrows})
        if len(ks) < 2 or not all(MIN_PROBE_LOGROWS <= k <= LOGROWS_LIMIT for k in ks):
            raise ValueError(f"scaling_logrows={list(scaling_logrows)} is not accepted; accepted: at least "
                             f"two distinct sizes in {MIN_PROBE_LOGROWS}..{LOGROWS_LIMIT}")
        self.calibration_target = calibration_target
        self.max_logrows = max_logrows
        self.calibration_samples = calibration_samples
        self.fidelity_samples = fidelity_samples
        if max_fidelity_s is not None and not max_fidelity_s > 0:
            raise ValueError(f"max_fidelity_s={max_fidelity_s} is not accepted; accepted: a positive number "
                             "or null")
        #: The witness-only fidelity pass stops after this many seconds (the record says how many ran).
        self.max_fidelity_s = None if max_fidelity_s is None else float(max_fidelity_s)
        self.scaling_logrows = ks
        #: Also run the prove-time fit (used for circuits too large to build) on this measured cell.
        self.check_estimate = bool(check_estimate)
        #: Key generation runs in a child process capped at this much memory (GB).
        self.max_memory_gb = float(max_memory_gb)
        #: Models with more parameters than this are proved one encoder layer at a time.
        self.per_layer_params = per_layer_params
        self.mask_fill = float(mask_fill)
        #: EZKL's columns per operation block: more columns trade rows for key memory.
        self.num_inner_cols = int(num_inner_cols)
        #: Fixed-point scales (log2) calibration may try; None lets EZKL choose.
        self.calibration_scales = None if calibration_scales is None else [int(k) for k in calibration_scales]
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows={max_rows} is not accepted; accepted: an integer >= 1 or null")
        #: A circuit with more rows than this (EZKL's uncalibrated count) is not built: recorded
        #: unsupported with the extrapolated cost, before calibration and key generation spend minutes.
        self.max_rows = max_rows
        if decomp_base != "fit" and (not isinstance(decomp_base, int) or decomp_base < 2
                                     or decomp_base & (decomp_base - 1)):
            raise ValueError(f"decomp_base={decomp_base!r} is not accepted; accepted: 'fit' or a power of "
                             "two >= 2 (EZKL's default: 16384)")
        if decomp_legs is not None and decomp_legs < 1:
            raise ValueError(f"decomp_legs={decomp_legs} is not accepted; accepted: an integer >= 1 or null")
        #: EZKL's range-check decomposition: "fit" sizes its table to the circuit's own rows
        #: (nesabench/zk/decomposition.py); legs None = enough to cover EZKL's default range.
        self.decomp_base, self.decomp_legs = decomp_base, decomp_legs
        #: Set by the harness to harness.max_eval_s: under a budget the estimator check is skipped.
        self.budget_s: float | None = None
        self._split: LayerSplit | None = None
        self._sample_s: list[float] = []
        self._rest_s: list[float] = []
        self._plain_s: list[float] = []
        self.max_eval_samples = prove_samples
        self.max_repeats = max_repeats
        self._work = Path(tempfile.mkdtemp(prefix="nesabench-zk-"))
        weakref.finalize(self, shutil.rmtree, str(self._work), True)
        self._circuit = Circuit(self._work, self.visibility)
        self._workload: Workload | None = None
        self._steps: dict[str, Any] = {}
        self._witness_s: list[float] = []
        self._prove_call_s: list[float] = []
        self._io_s: list[float] = []
        self._key_load_s: float | None = None
        self._verify_s: list[float] = []
        self._proof_sizes: list[tuple[int, int]] = []
        self._last: tuple[torch.Tensor, list[Proof], np.ndarray] | None = None
        self._fidelity: dict[str, Any] | None = None
        self._calls = 0

    @property
    def tamper_cases(self) -> tuple[str, ...]:
        """A private input has no instance to change, so that case exists only for public/hashed input."""
        if self.visibility.input == "private":
            return tuple(c for c in TAMPER_CASES if c != "public_input")
        return TAMPER_CASES

    # -- sizing ---------------------------------------------------------------------------
    def _circuit_model(self, workload: Workload) -> tuple[torch.nn.Module, Inputs]:
        """The module the circuit proves and an example input: the whole model, or its layer 0."""
        model, example = workload.copy_model().eval(), workload.dataset.x_test[:1]
        n_params = sum(p.numel() for p in model.parameters())
        self._split = split_layers(model) if n_params > self.per_layer_params else None
        if self._split is None:
            self._steps["circuit_params"] = n_params
            return model, example
        # recorded for an unsupported estimate too: the zk_prove figure places a circuit by its size
        self._steps["circuit_params"] = sum(p.numel() for p in self._split.layer.parameters())
        return self._split.layer, self._split.inputs(example)

    def _circuit_inputs(self, x: torch.Tensor) -> Inputs:
        return x if self._split is None else self._split.inputs(x)

    def check(self, workload: Workload) -> None:
        """Export and build the circuit's settings; a model EZKL cannot build is Unsupported.

        Its size is not judged here: EZKL spreads a circuit over more columns when it has more rows
        than 2^logrows, so what bounds it is calibration within max_logrows and the keys' memory
        (prepare)."""
        model, example = self._circuit_model(workload)
        self._circuit.export(model, example, self.mask_fill)
        try:
            rows = self._circuit.gen_settings(self.num_inner_cols)["num_rows"]
        except CircuitError as err:
            macs = count_macs(workload.model, workload.dataset.x_test[:1])
            raise self._unsupported(
                workload, f"EZKL cannot build a circuit for this model ({err})",
                rows=None, macs=macs) from err
        self._steps["num_rows_uncalibrated"] = rows
        if self.max_rows is not None and rows > self.max_rows:
            raise self._unsupported(
                workload, f"the circuit has {rows:,} rows, more than max_rows={self.max_rows:,} (set "
                "technique.max_rows=null to try it: tiny_transformer's 314,501 rows needed a 12.9 GB peak "
                "to prove, docs/zk.md)", rows=rows, macs=None,
                layers=1 if self._split is None else self._split.n_layers)

    def _unsupported(
        self, workload: Workload, reason: str, rows: int | None, macs: int | None, layers: int = 1
    ) -> Unsupported:
        """Unsupported with an estimate extrapolated from the measured prove time vs logrows."""
        scaling = measure_scaling(workload.cache_dir, self.scaling_logrows)
        if rows is None:
            rows = round((macs or 0) * scaling.rows_per_mac)
            basis = (f"rows estimated as {macs} MACs x {scaling.rows_per_mac:.2f} rows/MAC of the probe "
                     "circuit (a lower bound: non-linear layers add lookups)")
        else:
            basis = "rows from EZKL's own settings for this model"
        k = logrows_for(rows)
        prove_s = scaling.predict("prove_s", k)
        # KZG verification is a few pairings plus work per column, not per row: take the largest
        # measured time rather than extrapolating noise in the domain size.
        verify_s = max(p.verify_s for p in scaling.points)
        _, growth = scaling.fit("prove_s")
        estimate = {
            "latency_p50_s": layers * (prove_s + verify_s),
            "estimate_kind": "extrapolation",
            "estimate_method": (f"prove time vs logrows of a probe circuit, log-linear fit over logrows "
                                f"{' '.join(str(p.logrows) for p in scaling.points)}, extrapolated to {k}"),
            "prove_s": prove_s,
            "verify_per_proof_s": verify_s,
            "setup_keys_s": scaling.predict("setup_s", k),
            "pk_bytes": round(scaling.predict("pk_bytes", k)),
            "logrows_needed": k,
            "num_rows": rows,
            "scaling_prove_growth_per_logrow": float(np.exp(growth)),
            "scaling_logrows_measured": " ".join(str(p.logrows) for p in scaling.points),
            **self._steps,
        }
        if layers > 1:
            estimate["estimate_method"] += f", times {layers} layers (one layer's circuit sized by EZKL)"
            estimate["layers"] = layers
        return Unsupported(f"{reason}; estimate: prove time at logrows {k} extrapolated from the probe "
                           f"measured at logrows {self.scaling_logrows}; {basis}", estimate=estimate)

    # -- setup ----------------------------------------------------------------------------
    def prepare(self, workload: Workload) -> None:
        """The whole EZKL flow up to the keys, each step timed."""
        self._workload = workload
        c, steps = self._circuit, self._steps
        t0 = time.perf_counter()
        model, example = self._circuit_model(workload)
        c.export(model, example, self.mask_fill)
        steps["export_s"] = time.perf_counter() - t0
        steps["mask_values_replaced"] = c.mask_values_replaced
        layers = 1 if self._split is None else self._split.n_layers
        if self._split is not None:
            steps.update(mode=f"measured per layer x {layers}", layers=layers,
                         unproven=self._split.unproven)
        t0 = time.perf_counter()
        rows = c.gen_settings(self.num_inner_cols)["num_rows"]
        decomp = self._decomposition(rows)
        if decomp != (EZKL_DECOMP_BASE, EZKL_DECOMP_LEGS):
            rows = c.gen_settings(self.num_inner_cols, decomp)["num_rows"]
        steps["settings_s"] = time.perf_counter() - t0
        steps.update(decomp_base=decomp[0], decomp_legs=decomp[1])
        t0 = time.perf_counter()
        try:
            calibration = workload.calibration(self.calibration_samples)
            ds, pad_id = workload.dataset, workload.dataset.meta.get("pad_id")
            # Padded copies only where the workload's data has padding: they widen the exponential's
            # lookup table to the masked scores (tiny_transformer: [-89424, 18040] vs [-14428, 18040]).
            padded = (ds.input_kind == "tokens" and pad_id is not None
                      and has_padding(ds.x_train, ds.x_test, pad_id=int(pad_id)))
            if padded:
                calibration = with_padded_copies(calibration, int(pad_id))
            steps["calibration_padded_copies"] = padded
            calibration = self._circuit_inputs(calibration)
            settings = c.calibrate(calibration, self.calibration_target, self.max_logrows,
                                   self.calibration_scales)
        except CircuitError as err:
            raise self._unsupported(workload, f"calibration within max_logrows {self.max_logrows} failed "
                                    f"({err})", rows=rows, macs=None, layers=layers) from err
        steps["calibrate_s"] = time.perf_counter() - t0
        logrows = settings["run_args"]["logrows"]
        t0 = time.perf_counter()
        c.compile()
        steps["compile_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        srs = get_or_make_srs(workload.cache_dir, logrows)
        steps.update(srs_s=time.perf_counter() - t0, srs_from_cache=srs.from_cache, srs_gen_s=srs.gen_s)
        run_args = settings["run_args"]
        steps.update(logrows=logrows, num_rows=settings["num_rows"],
                     total_assignments=settings.get("total_assignments"))
        t0 = time.perf_counter()
        try:
            c.setup(srs, self.max_memory_gb)
        except CircuitError as err:
            steps["setup_peak_rss_mb"] = c.setup_peak_rss_mb
            raise self._unsupported(workload, f"key generation {self._memory_verdict(err)} at "
                                    f"logrows {logrows} ({err})", rows=settings["num_rows"], macs=None,
                                    layers=layers) from err
        steps["setup_keys_s"] = time.perf_counter() - t0
        steps["setup_peak_rss_mb"] = c.setup_peak_rss_mb
        low, high = run_args["lookup_range"]
        steps.update(num_inner_cols=run_args["num_inner_cols"], lookup_range_min=low, lookup_range_max=high,
                     decomp_base=run_args["decomp_base"], decomp_legs=run_args["decomp_legs"])
        steps.update(logrows=logrows, num_rows=settings["num_rows"], input_scale=run_args["input_scale"],
                     param_scale=run_args["param_scale"], pk_bytes=c.pk.stat().st_size,
                     vk_bytes=c.vk.stat().st_size, circuit_params=sum(p.numel() for p in model.parameters()))
        self._output_scale = settings["model_output_scales"][0]

    def _memory_verdict(self, err: CircuitError) -> str:
        if err.machine_oom:
            return f"ran out of this machine's memory below the {self.max_memory_gb:g} GB cap"
        return f"does not fit {self.max_memory_gb:g} GB"

    def _decomposition(self, num_rows: int) -> tuple[int, int]:
        """(base, legs) of EZKL's range-check decomposition for a circuit of ``num_rows`` rows."""
        if self.decomp_base == "fit":
            d = fitted_decomposition(num_rows, self.decomp_legs)
            return d.base, d.legs
        return self.decomp_base, self.decomp_legs or legs_for(self.decomp_base)

    # -- serving --------------------------------------------------------------------------
    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """Node: witness + proof per sample. Verifier: checks each proof. Returns the claimed outputs."""
        c = self._circuit
        self._calls += 1
        proofs, outputs = [], []
        for i, xi in enumerate(x):
            tag = f"{self._calls}-{i}"
            t_sample = time.perf_counter()
            inputs = self._circuit_inputs(xi.unsqueeze(0))
            rest_s = time.perf_counter() - t_sample
            t0 = time.perf_counter()
            witness, wpath = c.witness(inputs, tag)
            self._witness_s.append(time.perf_counter() - t0)
            try:
                proof = c.prove(wpath, tag)
            except CircuitError as err:  # the proving child over its memory cap (or failed): named, measured
                self._steps["prove_peak_rss_mb"] = _peak_mb(str(err))
                raise self._unsupported(
                    self._workload, f"proving {self._memory_verdict(err)} at logrows "
                    f"{self._steps.get('logrows')} ({err})", rows=self._steps.get("num_rows"), macs=None,
                    layers=self._steps.get("layers", 1)) from err
            self._prove_call_s.append(proof.call_s)
            self._io_s.append(proof.io_s + c.last_input_io_s)
            t0 = time.perf_counter()
            ok, detail = c.verify(proof.data, tag)
            self._verify_s.append(time.perf_counter() - t0)
            if not ok:
                raise RuntimeError(f"an honest EZKL proof did not verify: {detail}")
            proofs.append(proof)
            claimed = c.outputs(witness)
            self._sample_s.append(time.perf_counter() - t_sample - rest_s)
            if self._split is not None:
                t0 = time.perf_counter()
                h = torch.as_tensor(claimed, dtype=torch.float32).reshape(inputs[0].shape)
                claimed = self._split.finish(xi.unsqueeze(0), h).reshape(-1).double().numpy()
                self._rest_s.append(rest_s + time.perf_counter() - t0)
                t0 = time.perf_counter()
                with torch.no_grad():
                    self._workload.model(xi.unsqueeze(0))
                self._plain_s.append(time.perf_counter() - t0)
            outputs.append(claimed)
            self._proof_sizes.append((proof.proof_bytes, proof.file_bytes))
        claimed = np.stack(outputs)
        self._last = (x.detach().clone(), proofs, claimed)
        return torch.as_tensor(claimed, dtype=torch.float32)

    def views(self) -> list[PartyView]:
        if self._last is None:
            return []
        x, proofs, claimed = self._last
        out = torch.as_tensor(claimed)
        views = [
            PartyView(party="node", kind="plain_input", layer="input", payload=x,
                      meta={"weights": "plain", "role": "prover"}),
            PartyView(party="node", kind="output", layer="output", payload=out, received=False),
            PartyView(party="verifier", kind="proof", layer="proof", payload=[bytes(p.data["proof"])
                      for p in proofs], nbytes=sum(p.file_bytes for p in proofs),
                      meta={"includes": "proof bytes and public instances"}),
            PartyView(party="verifier", kind="output", layer="output", payload=out),
        ]
        if self.visibility.input == "public":
            views.append(PartyView(party="verifier", kind="plain_input", layer="input", payload=x,
                                   meta={"quantized": True}))
        return views

    # -- verification ---------------------------------------------------------------------
    def verify(self, tamper: str | None = None) -> VerifyResult:
        """Verify the last batch's proofs as sent, or after one named tampering by the prover."""
        if tamper is not None and tamper not in TAMPER_CASES:
            raise ValueError(f"unknown tamper case {tamper!r}; accepted: {', '.join(TAMPER_CASES)}")
        if tamper is not None and tamper not in self.tamper_cases:
            raise ValueError(f"tamper case {tamper!r} does not apply: the input is private, so no public "
                             "instance carries it")
        if self._last is None:
            raise RuntimeError("verify() needs a proof: call infer() first")
        t0 = time.perf_counter()
        results, details = [], []
        for j, proof in enumerate(self._last[1]):
            data = proof.data
            if tamper == "output":
                data = tamper_output(data, self._output_scale)
            elif tamper == "public_input":
                data = tamper_public_input(data)
            elif tamper == "proof_byte":
                data, pos = flip_proof_byte(data)
                details.append(f"flipped byte {pos}")
            ok, detail = self._circuit.verify(data, f"{tamper or 'honest'}-{j}")
            results.append(ok)
            if detail:
                details.append(detail)
        return VerifyResult(verified=all(results), tamper=tamper, seconds=time.perf_counter() - t0,
                            detail="; ".join(details)[:500])

    # -- record ---------------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Per-proof medians. ``prove_s`` is proving alone: ``ezkl.prove`` also loads the proving key
        from disk on every call, measured apart as ``key_load_s`` and subtracted (``prove_call_s``
        keeps the whole call); ``io_s`` is the input and proof JSON files written and read around it.
        """
        out = dict(self._steps)
        if self._prove_call_s and self._key_load_s is None:
            # a proving key of gigabytes (a transformer's) takes seconds to load: once is enough
            big = self._circuit.pk.stat().st_size > 2**30
            self._key_load_s = self._circuit.key_load_s(repeats=1 if big else 3)
        call = _median(self._prove_call_s)
        out.update(
            witness_s=_median(self._witness_s), prove_call_s=call, key_load_s=self._key_load_s,
            prove_s=None if call is None else max(call - (self._key_load_s or 0.0), 0.0),
            io_s=_median(self._io_s), verify_per_proof_s=_median(self._verify_s),
            proofs_made=len(self._prove_call_s),
            proof_bytes=int(np.median([s[0] for s in self._proof_sizes])) if self._proof_sizes else None,
            proof_file_bytes=int(np.median([s[1] for s in self._proof_sizes])) if self._proof_sizes else None,
        )
        out["prove_peak_rss_mb"] = self._circuit.prove_peak_rss_mb
        out.update(self._per_layer_latency())
        out.update(self._estimate_check(out))
        if self.visibility.input == "private":
            out["tamper_public_input"] = "n/a: input private, no public instance carries it"
        out.update(self.circuit_fidelity())
        return out

    def _per_layer_latency(self) -> dict[str, Any]:
        """Per-layer mode: the cell's latency is the measured per-sample layer proof (witness + prove +
        verify) times the layer count, plus the measured plaintext rest; the harness's timing of one
        layer is kept as ``latency_one_layer_*``. Not an estimate: every term is measured."""
        if self._split is None or not self._sample_s:
            return {}
        n = self._split.n_layers
        layer = np.array(self._sample_s)
        rest = float(np.median(self._rest_s)) if self._rest_s else 0.0
        p50 = n * float(np.median(layer)) + rest
        p95 = n * float(np.percentile(layer, 95)) + rest
        plain = float(np.median(self._plain_s)) if self._plain_s else None
        return {"latency_one_layer_p50_s": float(np.median(layer)), "rest_plaintext_s": rest,
                "latency_p50_s": p50, "latency_p95_s": p95, "latency_per_sample_s": p50,
                "throughput_sps": 1.0 / p50, "latency_n": len(layer),
                **({"slowdown": p50 / plain, "plaintext_latency_p50_s": plain} if plain else {})}

    def _estimate_check(self, measured: dict[str, Any]) -> dict[str, Any]:
        """The prove-time fit at this circuit's logrows against the measured prove call. Under a
        harness budget (harness=table) it is skipped, and said so: the probe behind the fit is a key
        generation and a proof at each of scaling_logrows (docs/zk.md); harness=overhead runs it."""
        if not self.check_estimate or not measured.get("prove_call_s") or self._workload is None:
            return {}
        if self.budget_s is not None:
            return {"estimate_check": f"skipped under harness.max_eval_s={self.budget_s:g} (the probe fit "
                                      "runs in harness=overhead)"}
        scaling = measure_scaling(self._workload.cache_dir, self.scaling_logrows)
        est = scaling.predict("prove_s", measured["logrows"])
        return {"estimate_prove_s": est, "estimate_kind": "extrapolation",
                "estimate_method": "probe prove time vs logrows, log-linear fit over logrows "
                                   + " ".join(str(p.logrows) for p in scaling.points),
                "estimate_ratio": est / measured["prove_call_s"]}

    def _claimed(self, x: torch.Tensor, tag: str) -> np.ndarray:
        """The circuit's claimed outputs for one sample (witness only), finished in plaintext per layer."""
        inputs = self._circuit_inputs(x)
        out = self._circuit.outputs(self._circuit.witness(inputs, tag)[0])
        if self._split is None:
            return out
        h = torch.as_tensor(out, dtype=torch.float32).reshape(inputs[0].shape)
        return self._split.finish(x, h).reshape(-1).double().numpy()

    def circuit_fidelity(self) -> dict[str, Any]:
        """Quantized circuit vs plaintext on more samples than are proven (witness only, untimed)."""
        if self._fidelity is not None or self._workload is None or not self.fidelity_samples:
            return self._fidelity or {}
        ds = self._workload.dataset
        x, y = ds.x_test[: self.fidelity_samples], ds.y_test[: self.fidelity_samples]
        rows, t0 = [], time.perf_counter()
        for xi in x:
            rows.append(self._claimed(xi.unsqueeze(0), "fidelity"))
            if self.max_fidelity_s is not None and time.perf_counter() - t0 > self.max_fidelity_s:
                break
        circuit = np.stack(rows)
        x, y = x[: len(rows)], y[: len(rows)]
        with torch.no_grad():
            plain = self._workload.model(x).double().numpy()
        labels = y.numpy()
        acc, ref = accuracy(circuit, labels), accuracy(plain, labels)
        self._fidelity = {
            "circuit_accuracy": acc, "circuit_plaintext_accuracy": ref, "circuit_accuracy_loss": ref - acc,
            "circuit_agreement": agreement(circuit, plain),
            "circuit_max_abs_err": float(np.abs(circuit - plain.reshape(circuit.shape)).max()),
            "circuit_eval_samples": len(x),
        }
        return self._fidelity
