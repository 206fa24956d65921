"""DP training of a model with a frozen prefix trains its head on features computed once per sample,
and that is the same training (same accounting, same head) as running the prefix at every step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import baselines.dp_sgd as dp_sgd
from baselines.dp_sgd import DPRecipe, train_model
from nesabench.frozen_features import FeatureCache, frozen_split
from nesabench.workloads.data import breast_cancer

RECIPE = DPRecipe(epochs=3, lr=0.01, batch_size=64, optimizer="adam", max_grad_norm=1.0, accountant="prv")
#: The head trained on cached features vs. through the prefix: equal up to float32 rounding of the
#: prefix's matmuls in batches of different sizes.
HEAD_ATOL = 1e-5
#: Samples that went through any FrozenPrefixNet's prefix (module-level: trainers return copies).
PREFIX_SAMPLES = [0]


class FrozenPrefixNet(nn.Module):
    """A frozen random feature extractor under a trainable linear head; counts prefix samples."""

    def __init__(self, d_in: int = 30, hidden: int = 16, classes: int = 2) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh())
        self.encoder.requires_grad_(False)
        self.head = nn.Linear(hidden, classes)

    def frozen_features(self, x: torch.Tensor) -> torch.Tensor:
        PREFIX_SAMPLES[0] += len(x)
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.frozen_features(x))


def fresh() -> FrozenPrefixNet:
    torch.manual_seed(0)
    return FrozenPrefixNet()


@pytest.mark.parametrize("epsilon", [None, 1.0])
def test_cached_features_give_the_same_epsilon_and_head_as_the_prefix_at_every_step(
        epsilon: float | None, monkeypatch: pytest.MonkeyPatch) -> None:
    # the same DP randomness on both paths (in a run it comes from the OS CSPRNG)
    monkeypatch.setattr(dp_sgd.secrets, "randbits", lambda bits: 1234)
    ds = breast_cancer(seed=0)
    kw = {"delta": 1e-4, "seed": 0, "target_epsilon": epsilon}
    cached = train_model(fresh(), ds.x_train, ds.y_train, RECIPE, **kw)
    direct = train_model(fresh(), ds.x_train, ds.y_train, RECIPE, use_frozen_features=False, **kw)
    a, b = cached.dp_outcome, direct.dp_outcome
    assert a.frozen_features and not b.frozen_features
    assert (a.private, a.epsilon_spent, a.noise_multiplier, a.sample_rate, a.steps) == (
        b.private, b.epsilon_spent, b.noise_multiplier, b.sample_rate, b.steps)
    if epsilon is not None:
        assert abs(a.epsilon_spent - epsilon) <= 0.05 * epsilon
    torch.testing.assert_close(cached.head.weight, direct.head.weight, atol=HEAD_ATOL, rtol=0)
    torch.testing.assert_close(cached.head.bias, direct.head.bias, atol=HEAD_ATOL, rtol=0)
    torch.testing.assert_close(cached.encoder[0].weight, fresh().encoder[0].weight)  # prefix untouched
    assert not (cached.head.weight == fresh().head.weight).all()  # and the head did train


def test_the_prefix_runs_once_per_sample_and_shadows_reuse_its_features(tmp_path) -> None:
    ds = breast_cancer(seed=0)
    n = len(ds.x_train)
    cache = FeatureCache(tmp_path)
    PREFIX_SAMPLES[0] = 0
    model = train_model(fresh(), ds.x_train, ds.y_train, RECIPE, delta=1e-4, seed=0, target_epsilon=1.0,
                        features=cache)
    assert PREFIX_SAMPLES[0] == n and cache.samples_computed == n  # not once per epoch
    # a shadow on a subset of the same samples computes nothing new
    shadow = train_model(fresh(), ds.x_train[: n // 2], ds.y_train[: n // 2], RECIPE, delta=1e-4, seed=1,
                         noise_multiplier=model.dp_outcome.noise_multiplier, features=cache)
    assert PREFIX_SAMPLES[0] == n and cache.samples_computed == n
    # a later run (a new process: an empty memory cache) loads the data set's features from disk
    later = FeatureCache(tmp_path)
    again = train_model(fresh(), ds.x_train, ds.y_train, RECIPE, delta=1e-4, seed=0, features=later)
    assert PREFIX_SAMPLES[0] == n and later.samples_computed == 0
    assert shadow.dp_outcome.frozen_features and again.dp_outcome.frozen_features
    train_model(fresh(), ds.x_train, ds.y_train, RECIPE, delta=1e-4, seed=0, use_frozen_features=False)
    assert PREFIX_SAMPLES[0] >= n + RECIPE.epochs * n  # the uncached path: the prefix at every step
    # the whole model still answers on raw inputs (what the membership audit queries)
    with torch.no_grad():
        assert (model(ds.x_test).argmax(1) == ds.y_test).float().mean() > 0.6


def test_a_prefix_that_trains_or_an_untrainable_head_is_not_split() -> None:
    model = fresh()
    assert frozen_split(model) is not None
    model.encoder[0].weight.requires_grad_(True)
    assert frozen_split(model) is None
    model = fresh()
    model.head.requires_grad_(False)
    assert frozen_split(model) is None
    other = fresh()
    other.encoder[0].weight.data += 1.0  # different frozen weights: different cached features
    assert frozen_split(other).prefix_digest != frozen_split(fresh()).prefix_digest
