"""Every attack succeeds on plaintext views and fails on uniform additive shares over Z_2^64."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
import torch
from conftest import trained_workload

from nesabench.leakage.shares import bit_uniformity, distinguishing_game
from nesabench.leakage.suite import evaluate_leakage
from nesabench.pipeline import PartyView

FRACTION_BITS = 16
N_EVAL = 64


@pytest.fixture(scope="module")
def digits():
    return trained_workload("cnn_digits")


def uniform_mask(shape: tuple[int, ...]) -> np.ndarray:
    """Masks from the OS CSPRNG, uniform over Z_2^64."""
    return np.frombuffer(secrets.token_bytes(8 * int(np.prod(shape))), dtype=np.uint64).reshape(shape)


def encode(x: np.ndarray) -> np.ndarray:
    """Fixed point in Z_2^64 (two's complement)."""
    return np.round(x * 2**FRACTION_BITS).astype(np.int64).view(np.uint64)


def share_views(x: torch.Tensor, batch: int = 8) -> list[list[PartyView]]:
    calls = []
    for i in range(0, len(x), batch):
        secret = encode(x[i : i + batch].numpy())
        mask = uniform_mask(secret.shape)
        calls.append([PartyView("client", "plain_input", "input", x[i : i + batch]),
                      PartyView("node0", "share", "input", secret - mask),  # wraps mod 2^64
                      PartyView("node1", "share", "input", mask)])
    return calls


def test_every_attack_succeeds_on_plaintext_views(digits):
    x = digits.dataset.x_test[:N_EVAL]
    views = [[PartyView("node", "plain_input", "input", x[i : i + 8])] for i in range(0, N_EVAL, 8)]
    out = evaluate_leakage(digits, None, x, views)
    assert out["input_privacy"] <= 0.2
    assert out["leakage.node.r2"] > 0.95
    assert out["leakage.node.attribute_accuracy"] - out["leakage.node.attribute_chance"] > 0.5
    assert out["leakage.node.dcor"] > 0.95 and out["leakage.node.dcor_p"] <= 0.001
    assert out["leakage_attack"].startswith("node:")


def test_single_uniform_shares_hide_the_input_and_two_reveal_it(digits):
    x = digits.dataset.x_test[:N_EVAL]
    out = evaluate_leakage(digits, None, x, share_views(x))
    assert out["leakage.node0.input_privacy"] >= 0.9
    assert out["leakage.node1.input_privacy"] >= 0.9
    assert out["input_privacy"] >= 0.9
    assert out["leakage.node0.share_bit_p"] > 0.001
    assert out["leakage.collusion_1_of_2.input_privacy"] >= 0.9
    assert out["leakage.collusion_2_of_2.input_privacy"] <= 0.05  # pooling both shares decodes x
    assert "client" not in out["leakage_parties"]


def test_share_bits_uniform_and_game_at_chance_for_uniform_masks(digits):
    x0, x1 = digits.dataset.x_test[0].numpy().ravel(), digits.dataset.x_test[1].numpy().ravel()

    def share(x: np.ndarray) -> np.ndarray:
        return encode(x) - uniform_mask(x.shape)

    assert bit_uniformity(np.stack([share(x0) for _ in range(200)])).leakage == 0.0
    game = distinguishing_game(share, x0, x1, trials=300)
    assert game.leakage == 0.0 and abs(game.metrics["advantage"]) < 0.2


def test_game_wins_against_narrow_masks(digits):
    # A 12-bit mask, below the 16-bit fixed-point scale, leaves the secret readable.
    x0, x1 = digits.dataset.x_test[0].numpy().ravel(), digits.dataset.x_test[1].numpy().ravel()
    rng = np.random.default_rng(0)

    def weak_share(x: np.ndarray) -> np.ndarray:
        return encode(x) + rng.integers(0, 2**12, x.shape).astype(np.uint64)

    assert distinguishing_game(weak_share, x0, x1, trials=300).leakage > 0.9
    assert bit_uniformity(np.stack([weak_share(x0) for _ in range(200)])).leakage > 0.9


def test_token_probe_on_ring_element_shares_runs_and_finds_nothing():
    """Shares of token inputs are nearly all-distinct int64s: probed as numbers, not one-hot
    categories (which would need terabytes), and a uniform share leaks no token."""
    from nesabench.leakage.reconstruction import token_probe

    rng = np.random.default_rng(0)
    n, t, d = 80, 16, 384
    ids = rng.integers(1, 50, size=(n, t))
    shares = [rng.integers(-2**63, 2**63 - 1, size=(t, d), dtype=np.int64) for _ in range(n)]
    folds = [(np.arange(0, 60), np.arange(60, 80))]
    assert token_probe(shares, ids, folds).leakage == 0.0
    # The same probe still reads a verbatim integer (token-id) view as categories.
    assert token_probe(list(ids[:, :, None]), ids, folds).leakage == 1.0
