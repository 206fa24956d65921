"""Estimates are marked by kind, and every estimator is checked against a measured cell."""

from __future__ import annotations

import pytest

from nesabench.estimates import estimate_cell, estimate_mark
from nesabench.he.ckks_params import CKKSParams
from nesabench.he.estimate import ckks_block_depth, ckks_params_for_depth, scale_op_costs
from nesabench.he.opcount import OpCounts

#: An estimator is kept only while it lands within this factor of the measured cells.
FACTOR = 3.0


def test_lower_bounds_and_extrapolations_print_differently():
    assert estimate_cell(1234.0, "lower_bound") == "≥1.23e+03"
    assert estimate_cell(2.5, "extrapolation") == "~2.5"
    assert estimate_cell(None, "extrapolation") == "—"
    assert estimate_mark(None) == "~"
    with pytest.raises(ValueError, match="estimate_kind"):
        estimate_mark("guess")


def test_ckks_is_priced_with_parameters_deep_enough_for_the_model():
    softmax = OpCounts(softmax_rows=4, softmax_elements=64)
    depth = ckks_block_depth(softmax)
    params = ckks_params_for_depth(depth)
    params.check_security()  # secure, and holds the softmax between bootstrappings
    assert params.levels >= depth and params.poly_modulus_degree == 32768
    base = CKKSParams(8192, (43, 33, 33, 33, 33, 43), 2.0**33)
    costs = {"op_ckks_pt_mult_s": 1.0, "op_ckks_rotation_s": 1.0, "op_ckks_ct_mult_relin_s": 1.0}
    scaled = scale_op_costs(costs, base, params)
    assert scaled["op_ckks_rotation_s"] > scaled["op_ckks_pt_mult_s"] > 4  # bigger ring, more primes


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["mlp_cancer", "cnn_digits"])
def test_ckks_estimator_within_factor_of_the_measured_cell(run, workload):
    rec = run(f"workload={workload}", "technique=he_ckks", "harness.eval_samples=4", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert 1 / FACTOR <= rec.extra["estimate_ratio"] <= FACTOR, rec.extra["estimate_ratio"]
    assert rec.extra["estimate_kind"] == "lower_bound"


@pytest.mark.slow
def test_tfhe_estimator_within_factor_of_the_measured_cell(run):
    rec = run("workload=mlp_cancer", "technique=he_tfhe", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert rec.latency_n >= 3  # the headline is the median of at least 3 real executions
    assert 1 / FACTOR <= rec.extra["estimate_ratio"] <= FACTOR, rec.extra["estimate_ratio"]
    assert rec.extra["pbs_model_ratio"] == pytest.approx(1.0, abs=0.1)


@pytest.mark.slow
def test_zk_fit_within_factor_of_the_measured_cell(run):
    rec = run("workload=mlp_cancer", "technique=zk_ezkl", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert 1 / FACTOR <= rec.extra["estimate_ratio"] <= FACTOR, rec.extra["estimate_ratio"]
