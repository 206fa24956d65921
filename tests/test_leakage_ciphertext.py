"""Ciphertext-only probes sit at chance; the access-trace attack reads tokens off page traces."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from conftest import trained_workload

from nesabench.leakage.access_trace import access_trace_attack
from nesabench.leakage.suite import evaluate_leakage
from nesabench.pipeline import PartyView

N_EVAL = 48
PAGE_BYTES = 4096


@pytest.fixture(scope="module")
def digits():
    return trained_workload("cnn_digits")


def test_random_bytes_sit_at_chance(digits):
    x = digits.dataset.x_test[:N_EVAL]
    views = [[PartyView("node", "ciphertext", "input", [secrets.token_bytes(2048) for _ in range(8)])]
             for _ in range(0, N_EVAL, 8)]
    out = evaluate_leakage(digits, None, x, views)
    assert out["input_privacy"] >= 0.9
    assert out["leakage.node.attacks"] >= 3


def test_real_ckks_ciphertexts_sit_at_chance(digits):
    ts = pytest.importorskip("tenseal")
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=4096, coeff_mod_bit_sizes=[40, 20, 40])
    ctx.global_scale = 2**20
    x = digits.dataset.x_test[:N_EVAL]
    blobs = [ts.ckks_vector(ctx, row.ravel().tolist()).serialize() for row in x.numpy()]
    sealed = [[PartyView("node", "ciphertext", "input", blobs[i : i + 8])] for i in range(0, N_EVAL, 8)]
    out = evaluate_leakage(digits, None, x, sealed)
    assert out["input_privacy"] >= 0.9, out
    # The same probes on the decrypted vectors do recover the input: the probes are not blind.
    plain = np.stack([ts.ckks_vector_from(ctx, b).decrypt() for b in blobs]).astype(np.float32)
    seen = [[PartyView("node", "activation", "decrypted", plain[i : i + 8])] for i in range(0, N_EVAL, 8)]
    assert evaluate_leakage(digits, None, x, seen)["input_privacy"] <= 0.2


def embedding_page_trace(ids: np.ndarray, row_bytes: int = 384 * 4) -> list[np.ndarray]:
    """Page of each token's embedding row, as a page-granular side channel sees the lookup."""
    return [row * row_bytes // PAGE_BYTES for row in ids]


def test_access_trace_recovers_minilm_tokens():
    from nesabench.workloads.minilm import sentences

    ds = sentences()
    ids = np.concatenate([ds.x_train.numpy(), ds.x_test.numpy()])
    n_att = len(ds.x_train)
    folds = [(np.arange(n_att), np.arange(n_att, len(ids)))]
    res = access_trace_attack(embedding_page_trace(ids), ids, folds, pad_id=0)
    # Real text: victim words the attacker's own lines never contained cannot be mapped (~20%).
    assert res.metrics["token_recovery"] > 0.6 and res.leakage > 0.5
    # One page for every token: the trace carries nothing.
    flat = [np.zeros_like(r) for r in ids]
    assert access_trace_attack(flat, ids, folds, pad_id=0).leakage == 0.0


def test_size_and_timing_side_channels(digits):
    x, y = digits.dataset.x_test[:N_EVAL], digits.dataset.y_test[:N_EVAL].numpy()
    rng = np.random.default_rng(0)
    views = []
    for i in range(0, N_EVAL, 8):
        labels = y[i : i + 8]
        # Random contents, but the length (e.g. compressed plaintext) and the time depend on the label.
        blobs = [secrets.token_bytes(1000 + 16 * int(c)) for c in labels]
        seconds = 0.01 * (labels + 1) + rng.normal(0, 1e-4, len(labels))
        views.append([PartyView("node", "sealed_blob", "input", blobs, nbytes=sum(map(len, blobs)),
                                meta={"seconds_per_sample": seconds.tolist()})])
    out = evaluate_leakage(digits, None, x, views)
    assert out["input_privacy"] <= 0.5, out["leakage_attack"]
    assert out["leakage_attack"].split(":")[1].split("@")[0] in {
        "size_probe", "timing_probe", "ciphertext_attribute", "ciphertext_reconstruction"}
