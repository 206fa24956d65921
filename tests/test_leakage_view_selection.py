"""A capped leakage pass (harness=table) still attacks the views most likely to leak, and says so."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from conftest import compose_config, trained_workload

from nesabench.config import ConfigError, HarnessConfig
from nesabench.leakage.suite import evaluate_leakage
from nesabench.leakage.view_selection import must_attack, select_views
from nesabench.leakage.views import ViewSeries
from nesabench.pipeline import PartyView

FRACTION_BITS = 16
N_EVAL = 64
LAYERS = 12
LEAKY = f"layer{LAYERS // 2}.opened@node0"


@pytest.fixture(scope="module")
def cancer():
    return trained_workload("mlp_cancer")


def uniform(shape: tuple[int, ...], bits: int = 64) -> np.ndarray:
    """Masks from the OS CSPRNG, uniform over [0, 2^bits)."""
    raw = np.frombuffer(secrets.token_bytes(8 * int(np.prod(shape))), dtype=np.uint64).reshape(shape)
    return raw if bits == 64 else raw >> np.uint64(64 - bits)


def encode(x: np.ndarray) -> np.ndarray:
    return np.round(x * 2**FRACTION_BITS).astype(np.int64).view(np.uint64)


def node_views(x, batch: int = 8) -> list[list[PartyView]]:
    """Two nodes holding uniform shares at every layer; node0 also sees one value opened under a
    12-bit mask, in the middle of the network: the leak a capped pass must not skip."""
    calls = []
    for i in range(0, len(x), batch):
        secret = encode(x[i : i + batch].numpy())
        call = []
        for layer in ["input", *(f"layer{j}" for j in range(LAYERS))]:
            mask = uniform(secret.shape)
            call += [PartyView("node0", "share", layer, secret - mask),
                     PartyView("node1", "share", layer, mask)]
            if layer == f"layer{LAYERS // 2}":
                call.append(PartyView("node0", "share", LEAKY, secret + uniform(secret.shape, bits=12)))
        calls.append(call)
    return calls


def series(names: list[tuple[str, str]]) -> list[ViewSeries]:
    return [ViewSeries("node0", kind, layer, [], []) for kind, layer in names]


def test_selection_keeps_inputs_first_block_last_and_opened_values():
    blocks = [f"b{j}.{part}" for j in range(5) for part in ("attn", "ff")]
    views = series([("share", "input"), *(("share", name) for name in blocks),
                    ("share", "b2.attn.opened@node0"), ("permuted_activation", "b3.ff"), ("output", "out")])
    kept = [views[i].layer for i in must_attack(views)]
    assert kept == ["input", "b0.attn", "b0.ff", "b4.ff", "b2.attn.opened@node0", "b3.ff", "out"]
    sel = select_views(views, 9)
    layers = [s.layer for s in sel.attacked]
    assert set(kept) <= set(layers) and len(layers) == 9
    assert len(sel.attacked) + len(sel.skipped) == len(views)
    # the two extra picks are spread over the middle blocks, not bunched at one end
    middle = sorted(s.layer for s in sel.attacked if s.layer not in kept)
    assert middle == ["b1.attn", "b4.attn"]
    assert select_views(views, None).skipped == [] and select_views(views, 3).attacked == [
        views[i] for i in must_attack(views)]


def test_capped_pass_still_finds_the_leaky_view_and_records_the_cap(cancer):
    x = cancer.dataset.x_test[:N_EVAL]
    out = evaluate_leakage(cancer, None, x, node_views(x), views_per_party=4)
    total = 2 * (LAYERS + 1) + 1
    assert out["leakage.views_total"] == total
    assert out["leakage.views_attacked"] < total / 2
    assert LEAKY not in out["leakage.views_skipped"] and "node0:share:layer3" in out["leakage.views_skipped"]
    # the leak is found and scored: node0 low, node1 (uniform shares only) private and powered
    assert out["leakage.node0.input_privacy"] <= 0.2, out["leakage.node0.best_attack"]
    assert LEAKY in out["leakage.node0.best_attack"]
    assert out["leakage.node1.input_privacy"] == 1.0 and out["leakage.node1.input_detectable"] <= 0.5
    # collusion still pools the layers both nodes hold (fewer of them), and names where it leaked
    assert 0 < out["leakage.collusion_layers_attacked"] < out["leakage.collusion_layers_total"] == LAYERS + 1
    assert out["leakage.collusion_2_of_2.input_privacy"] <= 0.2
    assert out["leakage.collusion_2_of_2.input_view"].startswith("share:")
    assert out["leakage_complete"] is True and out["input_privacy"] <= 0.2


def test_full_pass_is_the_default(cancer):
    x = cancer.dataset.x_test[:16]
    views = [[PartyView("node0", "share", f"l{j}", uniform((8, x.shape[1]))) for j in range(3)]
             for _ in range(2)]
    out = evaluate_leakage(cancer, None, x, views)
    assert out["leakage.views_attacked"] == out["leakage.views_total"] == 3
    assert "leakage.views_skipped" not in out


def test_only_the_table_harness_caps_the_pass():
    assert compose_config(["harness=table"]).harness.leakage_views_per_party == 8
    assert compose_config(["harness=overhead"]).harness.leakage_views_per_party is None
    assert HarnessConfig().leakage_views_per_party is None
    with pytest.raises(ConfigError, match="leakage_views_per_party"):
        HarnessConfig(leakage_views_per_party=0)
