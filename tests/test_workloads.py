"""Workloads are offline, deterministic under the seed, and trained once per config."""

from __future__ import annotations

import torch
from conftest import compose_config

from nesabench.workloads.data import breast_cancer, digits, majority_sequences
from nesabench.workloads.models import TinyTransformer
from nesabench.workloads.workload import load_workload


def test_datasets_are_deterministic_under_the_seed() -> None:
    for make in (breast_cancer, digits, majority_sequences):
        a, b, c = make(seed=1), make(seed=1), make(seed=2)
        assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
        assert not torch.equal(a.x_train, c.x_train)


def test_majority_labels_are_the_most_frequent_marker() -> None:
    ds = majority_sequences(n_samples=300, num_classes=3, seed=0)
    x = torch.cat([ds.x_train, ds.x_test])
    y = torch.cat([ds.y_train, ds.y_test])
    counts = torch.stack([(x == t).sum(1) for t in (1, 2, 3)], dim=1)
    assert torch.equal(counts.argmax(1), y)
    assert (counts.max(1).values > counts.topk(2, dim=1).values[:, 1]).all()  # unique winner
    assert not (x == 0).any()


def test_transformer_ignores_padding_positions() -> None:
    """Padding changes nothing: the padded sequence scores like the same tokens without padding, and
    like the same tokens padded with another pad token (whose embedding is different)."""
    torch.manual_seed(0)
    model = TinyTransformer(vocab_size=10, seq_len=6, num_classes=2).eval()
    with torch.no_grad():
        padded = model(torch.tensor([[3, 4, 5, 0, 0, 0]]))
        unpadded = model(torch.tensor([[3, 4, 5]]))
        changed = model(torch.tensor([[3, 4, 6, 0, 0, 0]]))
        model.pad_id = 9
        other_pad = model(torch.tensor([[3, 4, 5, 9, 9, 9]]))
    assert torch.allclose(padded, unpadded, atol=1e-6)
    assert torch.allclose(padded, other_pad, atol=1e-6)
    # Changing a real token changes the output (the comparison above can see a difference).
    assert not torch.allclose(padded, changed, atol=1e-3)


def test_trained_model_is_cached_and_identical(tmp_path) -> None:
    cfg = compose_config(["workload=mlp_cancer", "workload.train.epochs=3"])
    first = load_workload(cfg.workload, seed=0, cache_dir=tmp_path)
    second = load_workload(cfg.workload, seed=0, cache_dir=tmp_path)
    assert not first.from_cache and second.from_cache
    for p, q in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(p, q)
    # Training is deterministic: a fresh cache reproduces the same weights.
    third = load_workload(cfg.workload, seed=0, cache_dir=tmp_path / "other")
    pairs = zip(first.model.parameters(), third.model.parameters(), strict=True)
    assert all(torch.equal(p, q) for p, q in pairs)
    assert first.key != load_workload(cfg.workload, seed=1, cache_dir=tmp_path).key
