"""EZKL baseline: real proofs at tiny size verify, every tamper case fails, too-large is an estimate."""

from __future__ import annotations

import pytest
import torch
from conftest import trained_workload

from baselines.zk_ezkl import ZkEzklPipeline
from nesabench.pipeline import Unsupported
from nesabench.workloads.workload import Workload
from nesabench.zk.circuit import logrows_for
from nesabench.zk.decomposition import EZKL_DECOMP_BASE, EZKL_DECOMP_LEGS, fitted_decomposition
from nesabench.zk.scaling import Scaling, ScalingPoint
from nesabench.zk.tamper import TAMPER_CASES

# The quantized circuit (input/param scale 2^13 after calibration) tracks the float logits closely;
# the breast-cancer logits are O(10), so 0.05 absolute is far tighter than any class flip.
LOGIT_TOLERANCE = 0.05
# Small circuits for the default suite: logrows <= 12 proves in about a second on 2 cores.
TINY = {"max_logrows": 12, "prove_samples": 2, "max_repeats": 1, "fidelity_samples": 30,
        "scaling_logrows": (12, 13), "check_estimate": False}


workload = trained_workload


@pytest.fixture(scope="module")
def proven() -> tuple[ZkEzklPipeline, Workload, torch.Tensor, torch.Tensor]:
    """mlp_cancer with a public input (so all three tamper cases apply), two samples proven."""
    wl = workload("mlp_cancer")
    pipe = ZkEzklPipeline(input_visibility="public", **TINY)
    pipe.check(wl)
    pipe.prepare(wl)
    x = wl.dataset.x_test[:2]
    return pipe, wl, x, pipe.infer(x)


def test_honest_proof_verifies_and_outputs_match_plaintext(proven) -> None:
    pipe, wl, x, claimed = proven
    assert pipe.verify(None).verified
    with torch.no_grad():
        plain = wl.model(x)
    assert claimed.shape == plain.shape
    assert torch.allclose(claimed, plain, atol=LOGIT_TOLERANCE), (claimed, plain)
    m = pipe.metrics()
    assert m["logrows"] <= 12 and m["proof_bytes"] > 0 and m["pk_bytes"] > m["vk_bytes"] > 0
    assert m["prove_s"] > 0 and m["proofs_made"] == 2
    # Key loading and file I/O are measured apart from proving, not hidden in prove_s.
    assert m["key_load_s"] > 0 and m["io_s"] > 0
    assert m["prove_s"] + m["key_load_s"] == pytest.approx(m["prove_call_s"])
    assert m["circuit_eval_samples"] == 30 and m["circuit_agreement"] >= 0.95


def test_circuit_is_proved_at_the_logrows_its_rows_need(proven) -> None:
    """EZKL's default 2^14-row range-check table alone would set logrows 15 (12 here, the cap) for
    mlp_cancer's 1,232 rows; the fitted decomposition lets it prove at 11, covering the same range."""
    m = proven[0].metrics()
    assert m["logrows"] == logrows_for(m["num_rows"]) == 11
    assert m["decomp_base"] ** m["decomp_legs"] >= EZKL_DECOMP_BASE**EZKL_DECOMP_LEGS
    assert m["decomp_base"] < EZKL_DECOMP_BASE


def test_fitted_decomposition_keeps_ezkl_range_and_default_for_large_circuits() -> None:
    small = fitted_decomposition(1232)
    assert (small.base, small.legs) == (1024, 3) and small.range_bits >= 28
    for rows in (23_738, 314_501):  # cnn_digits, tiny_transformer: logrows >= 15 anyway
        d = fitted_decomposition(rows)
        assert (d.base, d.legs) == (EZKL_DECOMP_BASE, EZKL_DECOMP_LEGS)
    assert fitted_decomposition(1232, legs=5).legs == 5


def test_estimate_check_is_skipped_under_a_harness_budget_and_runs_without(proven) -> None:
    pipe = proven[0]
    saved = pipe.check_estimate, pipe.scaling_logrows, pipe.budget_s
    try:
        pipe.check_estimate, pipe.scaling_logrows = True, [12, 13]
        pipe.budget_s = 90.0  # what the runner sets under harness=table
        m = pipe.metrics()
        assert m["estimate_check"].startswith("skipped under harness.max_eval_s=90")
        assert "estimate_prove_s" not in m
        pipe.budget_s = None  # harness=overhead: no budget, the fit is checked
        m = pipe.metrics()
        assert "estimate_check" not in m and m["estimate_prove_s"] > 0 and m["estimate_ratio"] > 0
    finally:
        pipe.check_estimate, pipe.scaling_logrows, pipe.budget_s = saved


@pytest.mark.parametrize("case", TAMPER_CASES)
def test_each_tamper_case_fails_verification(proven, case: str) -> None:
    pipe = proven[0]
    assert case in pipe.tamper_cases
    result = pipe.verify(case)
    assert not result.verified, f"tampering {case!r} was not detected"
    # ...and tampering a copy leaves the honest proof intact.
    assert pipe.verify(None).verified


def test_views_prover_sees_input_verifier_sees_what_is_public(proven) -> None:
    pipe, _, x, _ = proven
    views = {(v.party, v.kind): v for v in pipe.views()}
    assert torch.equal(views[("node", "plain_input")].payload, x)
    proofs = views[("verifier", "proof")]
    assert len(proofs.payload) == len(x) and all(isinstance(p, bytes) and p for p in proofs.payload)
    assert ("verifier", "plain_input") in views  # input_visibility=public publishes it


def test_private_input_has_no_public_input_tamper_case() -> None:
    pipe = ZkEzklPipeline(input_visibility="private")
    assert "public_input" not in pipe.tamper_cases and "output" in pipe.tamper_cases
    with pytest.raises(ValueError, match="input is private"):
        pipe.verify("public_input")


def test_fidelity_pass_stops_at_its_time_budget_and_says_how_many_ran(proven) -> None:
    pipe = proven[0]
    saved = (pipe._fidelity, pipe.max_fidelity_s)
    try:
        pipe._fidelity, pipe.max_fidelity_s = None, 1e-9
        m = pipe.circuit_fidelity()
        assert m["circuit_eval_samples"] == 1 and 0.0 <= m["circuit_agreement"] <= 1.0
    finally:
        pipe._fidelity, pipe.max_fidelity_s = saved
    assert pipe.circuit_fidelity()["circuit_eval_samples"] == TINY["fidelity_samples"]


def test_proving_over_the_memory_cap_is_unsupported_naming_cap_and_peak(proven) -> None:
    pipe, _, x, _ = proven
    saved = (pipe._circuit.max_memory_gb, pipe._last)
    try:
        pipe._circuit.max_memory_gb, pipe.max_memory_gb = 0.05, 0.05
        with pytest.raises(Unsupported) as info:
            pipe.infer(x[:1])
        assert "proving does not fit 0.05 GB" in info.value.reason and "peak RSS" in info.value.reason
        assert info.value.estimate["latency_p50_s"] > 0
    finally:
        pipe._circuit.max_memory_gb, pipe._last = saved
        pipe.max_memory_gb = saved[0]
    assert pipe.verify(None).verified


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"input_visibility": "encrypted"}, "input_visibility='encrypted'.*accepted: private, public, hashed"),
    ({"param_visibility": "public"}, "param_visibility='public'.*accepted: fixed, private, hashed"),
    ({"calibration_target": "speed"}, "calibration_target='speed'.*accepted: resources, accuracy"),
    ({"max_logrows": 40}, "max_logrows=40"),
    ({"scaling_logrows": [12]}, "scaling_logrows"),
    ({"prove_samples": 0}, "prove_samples=0"),
    ({"num_inner_cols": 0}, "num_inner_cols=0.*accepted: 1..64"),
    ({"max_fidelity_s": 0}, "max_fidelity_s=0"),
    ({"decomp_base": 1000}, "decomp_base=1000.*power of two"),
    ({"decomp_legs": 0}, "decomp_legs=0"),
])
def test_bad_parameters_raise_a_clear_value_error(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ZkEzklPipeline(**kwargs)


def test_scaling_fit_extrapolates_a_doubling() -> None:
    points = [ScalingPoint(k, 0.1 * 2**k, 2.0**k, 0.01, 2**k, 100) for k in (10, 11, 12)]
    s = Scaling(points, rows_per_mac=2.0, ezkl_version="x")
    assert s.predict("prove_s", 20) == pytest.approx(2.0**20, rel=1e-6)
    assert Scaling.from_json(s.to_json()) == s


def test_scaling_fit_uses_the_largest_sizes() -> None:
    """Growth per logrow rises with size (n log n): the small sizes must not pull the slope down."""
    points = [ScalingPoint(k, 1.0, k * 2.0**k, 0.01, 2**k, 100) for k in (8, 9, 10, 11, 12, 13, 14)]
    s = Scaling(points, rows_per_mac=2.0, ezkl_version="x")
    truth = 15 * 2.0**15
    assert abs(s.predict("prove_s", 15) / truth - 1) < 0.01


def test_too_large_for_max_logrows_is_unsupported_with_a_measured_estimate() -> None:
    # EZKL's default decomposition: its 2^14-row range table cannot be spread over logrows 8 (a fitted
    # 2^9-row table can, and the 1,000-row circuit then fits)
    pipe = ZkEzklPipeline(input_visibility="private", max_logrows=8, scaling_logrows=(12, 13),
                          decomp_base=EZKL_DECOMP_BASE)
    wl = workload("mlp_cancer")
    pipe.check(wl)  # buildable: the size is judged by calibration within max_logrows
    with pytest.raises(Unsupported) as info:
        pipe.prepare(wl)
    est = info.value.estimate
    assert "max_logrows 8" in info.value.reason
    assert est["logrows_needed"] > 8 and est["latency_p50_s"] > 0 and est["prove_s"] > 0
    assert est["scaling_logrows_measured"] == "12 13"


def test_a_circuit_over_max_rows_is_unsupported_at_check_with_its_rows() -> None:
    pipe = ZkEzklPipeline(input_visibility="private", max_rows=100, scaling_logrows=(12, 13))
    with pytest.raises(Unsupported) as info:
        pipe.check(workload("mlp_cancer"))  # a few hundred rows with a private input
    assert "more than max_rows=100" in info.value.reason
    assert info.value.estimate["num_rows"] > 100 and info.value.estimate["latency_p50_s"] > 0
    ZkEzklPipeline(input_visibility="private", max_rows=100_000).check(workload("mlp_cancer"))  # fits
    with pytest.raises(ValueError, match="max_rows"):
        ZkEzklPipeline(max_rows=0)


def test_unbuildable_model_is_unsupported_with_a_mac_based_estimate() -> None:
    """A mask fill EZKL cannot represent (as torch's -3.4e38 was) leaves no circuit: MAC-based estimate."""
    pipe = ZkEzklPipeline(scaling_logrows=(12, 13), mask_fill=1e38)
    with pytest.raises(Unsupported) as info:
        pipe.check(workload("tiny_transformer"))
    assert "EZKL cannot build a circuit" in info.value.reason and "rows/MAC" in info.value.reason
    assert info.value.estimate["num_rows"] > 0 and info.value.estimate["latency_p50_s"] > 0


def test_harness_run_records_proof_costs_and_tamper_rate(run) -> None:
    over = [f"technique.{k}={list(v) if isinstance(v, tuple) else v}" for k, v in TINY.items()]
    rec = run("workload=mlp_cancer", "technique=zk_ezkl", "harness.leakage=false", "harness.warmup=0", *over)
    assert rec.status == "ok", rec.reason
    assert rec.verified is True and rec.tamper_detection_rate == 1.0
    for key in ("settings_s", "calibrate_s", "compile_s", "srs_s", "setup_keys_s", "witness_s", "prove_s",
                "logrows", "proof_bytes", "pk_bytes", "vk_bytes", "circuit_accuracy_loss"):
        assert rec.extra[key] is not None, key
    assert rec.eval_samples == 2 and rec.fidelity_agreement == 1.0
    assert rec.latency_n == 1  # the number of timed calls behind the latency, for the tables
    assert rec.extra["key_load_s"] > 0 and rec.extra["io_s"] is not None
    assert "verifier:proof" in rec.view_kinds and "node:plain_input" in rec.view_kinds


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlp_cancer", "cnn_digits"])
def test_default_settings_on_the_must_show_workloads(run, name: str) -> None:
    rec = run(f"workload={name}", "technique=zk_ezkl", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert rec.verified is True and rec.tamper_detection_rate == 1.0
    assert rec.extra["circuit_agreement"] >= 0.95
