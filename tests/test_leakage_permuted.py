"""Permuted-view attacks recover permutations applied here, with keys from `secrets`, to real activations."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
import torch
from conftest import trained_workload

from nesabench.leakage.activations import layer_activations
from nesabench.leakage.coordinate_matching import match_coordinates
from nesabench.leakage.key_recovery import argsort_key, known_plaintext_key, recovery_rate, unpermute
from nesabench.leakage.sorted_state_matching import recover_tokens, token_recovery
from nesabench.leakage.suite import evaluate_leakage
from nesabench.leakage.vocabulary_matching import mapped_fraction, match_vocabulary, text_recovery
from nesabench.pipeline import PartyView


def secret_permutation(d: int) -> np.ndarray:
    """A uniformly random permutation drawn from the OS CSPRNG."""
    return np.array(sorted(range(d), key=lambda _: secrets.randbits(64)))


workload = trained_workload


@pytest.fixture(scope="module")
def cancer():
    return workload("mlp_cancer")


@pytest.fixture(scope="module")
def tiny():
    return workload("tiny_transformer")


@pytest.fixture(scope="module")
def minilm():
    return workload("minilm")


def test_known_plaintext_argsort_recovers_the_key_from_one_pair(cancer):
    plain = layer_activations(cancer.model, "net.0", cancer.dataset.x_test[:1])  # pre-ReLU: no ties
    key = secret_permutation(plain.shape[1])
    assert recovery_rate(argsort_key(plain[0], plain[0, key]), key) == 1.0


def test_known_plaintext_matching_recovers_channel_key_on_cnn_activations():
    digits = workload("cnn_digits")
    plain = layer_activations(digits.model, "act", digits.dataset.x_test[:4])  # (4, 8, 8, 8) after ReLU
    key = secret_permutation(plain.shape[1])
    observed = plain[:, key]
    found = known_plaintext_key(plain, observed, axis=1)
    assert recovery_rate(found, key) == 1.0
    np.testing.assert_array_equal(unpermute(observed, found, axis=1), plain)


def test_ciphertext_only_matching_recovers_hidden_key_on_mlp_cancer(cancer):
    reference = layer_activations(cancer.model, "net.1", cancer.dataset.x_train)  # attacker's public data
    plain = layer_activations(cancer.model, "net.1", cancer.dataset.x_test)
    key = secret_permutation(plain.shape[1])
    rate = recovery_rate(match_coordinates(reference, plain[:, key]), key)
    assert rate >= 0.75, rate


def test_ciphertext_only_matching_recovers_minilm_hidden_key(minilm):
    layer = "encoder.embeddings"
    reference = layer_activations(minilm.model, layer, minilm.dataset.x_train)
    plain = layer_activations(minilm.model, layer, minilm.dataset.x_test[:64])
    key = secret_permutation(384)
    rate = recovery_rate(match_coordinates(reference.reshape(-1, 384), plain[..., key].reshape(-1, 384)), key)
    # Real text (chatterbot-corpus), attacker's reference from the same corpus: chance is 1/384.
    assert rate >= 0.4, rate


def fresh_permuted_states(model, layer: str, ids: torch.Tensor) -> tuple[np.ndarray, list[np.ndarray]]:
    states = layer_activations(model, layer, ids)
    keys = [secret_permutation(states.shape[-1]) for _ in range(len(ids))]
    return np.stack([s[..., k] for s, k in zip(states, keys, strict=True)]), keys


def _sorted_state_rate(wl, layer: str, n_queries: int, sweeps: int = 2) -> float:
    ids = wl.dataset.x_test[:n_queries]
    observed, _ = fresh_permuted_states(wl.model, layer, ids)
    counts = torch.bincount(wl.dataset.x_train.ravel())
    candidates = torch.argsort(counts, descending=True)[: int((counts > 0).sum())]

    def states(batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(layer_activations(wl.model, layer, batch, batch=512))

    rates = []
    for i in range(n_queries):
        pad = torch.where(ids[i] == 0, 0, -1)
        guess = recover_tokens(torch.from_numpy(observed[i]), states, candidates, known=pad, sweeps=sweeps)
        rates.append(token_recovery(guess.numpy(), ids[i].numpy(), ids[i].numpy() != 0))
    return float(np.mean(rates))


def test_sorted_state_matching_recovers_tokens_under_fresh_keys_tiny_transformer(tiny):
    # The normalized state entering the encoder block (what a node running attention receives).
    rate = _sorted_state_rate(tiny, "blocks.0.ln1", n_queries=4, sweeps=1)
    assert rate >= 0.9, rate


def test_sorted_state_matching_recovers_minilm_tokens_at_the_embedding_layer(minilm):
    rate = _sorted_state_rate(minilm, "encoder.embeddings", n_queries=2, sweeps=1)
    # Candidates come from the attacker's own text: victim words it never saw cannot be recovered.
    assert rate >= 0.5, rate


def test_vocabulary_row_matching_recovers_minilm_vocabulary(minilm):
    table = minilm.model.encoder.embeddings.word_embeddings.weight.detach().numpy()
    vocab_key, hidden_key = secret_permutation(len(table)), secret_permutation(table.shape[1])
    permuted_table = table[vocab_key][:, hidden_key]  # node row i = public row vocab_key[i]
    found = match_vocabulary(table, permuted_table)
    assert mapped_fraction(found, vocab_key) >= 0.99
    inverse = np.argsort(vocab_key)  # the node sees token t as id inverse[t]
    text = minilm.dataset.x_test.numpy()
    assert text_recovery(found, inverse[text], text) >= 0.99


def permuted_views(wl, layer: str, x: torch.Tensor, fresh: bool, batch: int = 8) -> list[list[PartyView]]:
    states = layer_activations(wl.model, layer, x)
    fixed = secret_permutation(states.shape[-1])
    calls = []
    for i in range(0, len(x), batch):
        d = states.shape[-1]
        rows = [s[..., secret_permutation(d) if fresh else fixed] for s in states[i : i + batch]]
        calls.append([PartyView("node", "permuted_activation", layer, np.stack(rows))])
    return calls


def test_evaluate_leakage_recovers_a_fixed_key_on_tiny_transformer(tiny):
    x = tiny.dataset.x_test[:48]
    out = evaluate_leakage(tiny, None, x, permuted_views(tiny, "blocks.0", x, fresh=False))
    assert out["model_privacy"] <= 0.1, out["model_leakage_attack"]
    assert out["leakage.node.key_recovery"] >= 0.9
    assert out["input_privacy"] <= 0.5, out["leakage_attack"]


def test_evaluate_leakage_under_fresh_keys_falls_back_to_sorted_states(tiny):
    x = tiny.dataset.x_test[:48]
    out = evaluate_leakage(tiny, None, x, permuted_views(tiny, "blocks.0.ln1", x, fresh=True))
    assert out["leakage.node.key_recovery"] <= 0.3
    assert out["leakage.node.sorted_state_tokens"] >= 0.8
    assert out["input_privacy"] <= 0.5, out["leakage_attack"]
