"""Calibration of the leakage estimators on data whose dependence is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nesabench.leakage.attribute import attribute_probe
from nesabench.leakage.distance_correlation import dcor_value, distance_correlation, u_dcor_sqr
from nesabench.leakage.reconstruction import reconstruction_probe

TRAIN_TEST = [(np.arange(300), np.arange(300, 500))]


def gaussian_pair(rho: float, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    return x[:, None], y[:, None]


def bivariate_normal_dcor(rho: float) -> float:
    """Closed form of the distance correlation of a standard bivariate normal (Szekely et al. 2007)."""
    r = abs(rho)
    num = r * math.asin(r) + math.sqrt(1 - r * r) - r * math.asin(r / 2) - math.sqrt(4 - r * r) + 1
    return math.sqrt(num / (1 + math.pi / 3 - math.sqrt(3)))


def test_numpy_dcor_matches_the_dcor_package():
    dcor = pytest.importorskip("dcor")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 3))
    y = x @ rng.standard_normal((3, 2)) + rng.standard_normal((60, 2))
    assert dcor_value(x, y) == pytest.approx(float(dcor.distance_correlation(x, y)), abs=1e-9)
    assert u_dcor_sqr(x, y) == pytest.approx(float(dcor.u_distance_correlation_sqr(x, y)), abs=1e-9)


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_dcor_on_gaussians_matches_closed_form(rho):
    x, y = gaussian_pair(rho, 1500)
    assert math.sqrt(u_dcor_sqr(x, y)) == pytest.approx(bivariate_normal_dcor(rho), abs=0.04)
    res = distance_correlation(x[:300], y[:300], max_samples=300)
    assert res.metrics["p_value"] <= 0.001 and res.leakage > 0


def test_dcor_on_independent_data_is_near_zero_and_not_significant():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((200, 8)), rng.standard_normal((200, 8))
    res = distance_correlation(x, y)
    assert res.leakage == 0.0
    assert res.metrics["p_value"] > 0.01
    assert res.metrics["dcor_unbiased"] < 0.15


def test_fixed_coordinate_permutation_leaves_dcor_unchanged():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((150, 16))
    y = np.tanh(x @ rng.standard_normal((16, 16)))
    perm = rng.permutation(16)
    assert dcor_value(x, y[:, perm]) == pytest.approx(dcor_value(x, y), abs=1e-12)
    assert u_dcor_sqr(x, y[:, perm]) == pytest.approx(u_dcor_sqr(x, y), abs=1e-12)


def test_reconstruction_r2_matches_signal_to_noise():
    # view = input + unit noise: the best linear reconstruction has R^2 = 1 / (1 + 1) = 0.5.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((500, 5))
    view = x + rng.standard_normal((500, 5))
    ridge = reconstruction_probe(view, x, TRAIN_TEST)[0]
    assert ridge.metrics["r2"] == pytest.approx(0.5, abs=0.08)
    assert ridge.ci_low < 0.5 < ridge.ci_high


def test_reconstruction_on_independent_view_scores_zero():
    rng = np.random.default_rng(5)
    x, view = rng.standard_normal((500, 5)), rng.standard_normal((500, 20))
    for res in reconstruction_probe(view, x, TRAIN_TEST):
        assert res.leakage == 0.0 and res.metrics["r2"] < 0.05


def test_attribute_probe_calibrated():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((500, 4))
    labels = (x[:, 0] > 0).astype(np.int64)
    assert attribute_probe(x, labels, TRAIN_TEST).leakage > 0.8
    noise = attribute_probe(rng.standard_normal((500, 4)), labels, TRAIN_TEST)
    assert noise.leakage == 0.0 and abs(noise.metrics["accuracy"] - 0.5) < 0.1
