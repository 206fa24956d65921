"""DP-SGD (Opacus): the workload's own architecture trained with differential privacy.

DP protects the training data, not the inference input: inference is plaintext on the node, which
sees the raw input. What DP costs is training time and accuracy; what it buys is a bound on
membership inference: ``trained_model`` offers the DP model (with its epsilon and delta) to the
harness's membership audit, which checks the measured advantage against that bound.

The comparison point is the NON-private model from the same recipe (same optimizer, learning
rate, batch size and epochs, no clipping or noise); ``target_epsilon: null`` serves that model, so
a sweep over epsilon includes its own baseline. The harness's ``accuracy_loss`` is measured against
the workload's plaintext model, as for every technique.

A model with a frozen feature extractor (``frozen_features`` + ``head``, see
``nesabench.frozen_features``) trains only its head, on features computed once per sample: DP
linear probing, with the same accounting as training the whole model with its prefix frozen.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import secrets
import warnings
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from baselines.plaintext import PlaintextPipeline
from nesabench.confighash import data_digest
from nesabench.frozen_features import FeatureCache, frozen_split
from nesabench.parameters import Range
from nesabench.pipeline import TrainedModel, Unsupported
from nesabench.progress import progress
from nesabench.quality import model_accuracy
from nesabench.stopwatch import Stopwatch
from nesabench.threads import torch_threads
from nesabench.workloads.workload import Workload

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
ACCOUNTANTS = ("prv", "rdp", "gdp")
#: Bump when the training code changes, so cached DP models are not reused across versions.
RECIPE_VERSION = 4  # 4: a frozen prefix runs once per sample, in eval mode
#: delta defaults to min(DEFAULT_DELTA, 1 / (DELTA_PER_SAMPLE_FACTOR * N_train)): well below 1/N, as
#: the DP literature advises (delta = 1/N would allow releasing one training sample outright).
DEFAULT_DELTA = 1e-5
DELTA_PER_SAMPLE_FACTOR = 10
#: Training threads. Tiny models train many times faster on one thread than on threads that
#: compete with other processes; private and non-private training use the same setting.
TRAIN_THREADS = 1


@dataclass(frozen=True)
class DPRecipe:
    """Hyperparameters shared by the private model, its non-private twin and the attack's shadows."""

    epochs: int
    lr: float
    batch_size: int
    optimizer: str
    max_grad_norm: float
    accountant: str


@dataclass(frozen=True)
class TrainingOutcome:
    """What one training run measured; stored on the cached module as ``dp_outcome``."""

    train_s: float
    private: bool
    epsilon_spent: float | None = None
    noise_multiplier: float | None = None
    sample_rate: float | None = None
    steps: int = 0
    nonprivate_train_s: float | None = None  # the same recipe without DP, timed right before
    frozen_features: bool = False  # only the head trained, on features of the frozen prefix
    feature_s: float | None = None  # time this run spent computing them (0 when all were cached)


def train_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: DPRecipe,
    *,
    delta: float,
    seed: int,
    target_epsilon: float | None = None,
    noise_multiplier: float | None = None,
    desc: str = "DP-SGD",
    features: FeatureCache | None = None,
    use_frozen_features: bool = True,
) -> nn.Module:
    """Train ``model`` on (x, y): with Opacus when ``target_epsilon`` or ``noise_multiplier`` is given.

    A model with a frozen feature extractor (``nesabench.frozen_features``: ``frozen_features(x)`` and
    ``head``) trains only its head, on features computed once per sample (kept in ``features``, a
    fresh in-memory cache if None): the same data set size, batches, clipping and noise on the same
    head parameters, hence the same privacy accounting. Returns a clean module (no Opacus hooks)
    carrying a ``TrainingOutcome`` as ``dp_outcome``.
    """
    split = frozen_split(model) if use_frozen_features else None
    if split is None:
        return _fit(model, x, y, recipe, delta=delta, seed=seed, target_epsilon=target_epsilon,
                    noise_multiplier=noise_multiplier, desc=desc)
    cache = features if features is not None else FeatureCache()
    with torch_threads(TRAIN_THREADS), Stopwatch() as clock:
        feats = cache.features(split, x)
    head = _fit(split.head, feats, y, recipe, delta=delta, seed=seed, target_epsilon=target_epsilon,
                noise_multiplier=noise_multiplier, desc=desc)
    outcome = dataclasses.replace(head.dp_outcome, frozen_features=True, feature_s=clock.seconds)
    del head.dp_outcome
    model.head = head  # the protocol: forward(x) == head(frozen_features(x))
    model.dp_outcome = outcome
    return model.eval()


def _fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: DPRecipe,
    *,
    delta: float,
    seed: int,
    target_epsilon: float | None,
    noise_multiplier: float | None,
    desc: str,
) -> nn.Module:
    """The training loop: every parameter of ``model`` that requires grad trains on (x, y).

    Private training uses Poisson sampling, per-sample clipping and Gaussian noise drawn from a
    generator seeded by the OS CSPRNG (the noise and the batch sampling are the secret randomness
    of DP-SGD). Non-private training shuffles with ``seed``.
    """
    from opacus import PrivacyEngine
    from opacus.validators import ModuleValidator

    private = target_epsilon is not None or noise_multiplier is not None
    if private and not ModuleValidator.is_valid(model):
        model = ModuleValidator.fix(model)
    clean = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(secrets.randbits(63) if private else seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=recipe.batch_size, shuffle=True, generator=gen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = OPTIMIZERS[recipe.optimizer](params, lr=recipe.lr)
    engine = None
    with (torch_threads(TRAIN_THREADS), warnings.catch_warnings(), np.errstate(divide="ignore"),
          Stopwatch() as clock):
        warnings.filterwarnings("ignore", module=r"opacus\..*")
        warnings.filterwarnings("ignore", message=".*full_backward_hook.*")
        if private:
            engine = PrivacyEngine(accountant=recipe.accountant)
            common = {"module": model, "optimizer": opt, "data_loader": loader,
                      "max_grad_norm": recipe.max_grad_norm, "noise_generator": gen, "poisson_sampling": True}
            if target_epsilon is not None:
                model, opt, loader = engine.make_private_with_epsilon(
                    **common, target_epsilon=target_epsilon, target_delta=delta, epochs=recipe.epochs)
            else:
                model, opt, loader = engine.make_private(**common, noise_multiplier=noise_multiplier)
        loss_fn = nn.CrossEntropyLoss()
        steps = 0
        model.train()
        for _ in progress(range(recipe.epochs), desc=desc, unit="epoch"):
            for xb, yb in loader:
                steps += 1
                if len(xb) == 0:  # a Poisson batch can be empty: nothing to clip, nothing to learn
                    continue
                opt.zero_grad()
                loss_fn(model(xb), yb).backward()
                opt.step()
    train_s = clock.seconds
    epsilon_spent = float(engine.get_epsilon(delta)) if engine else None
    trained = model._module if private else model
    clean.load_state_dict(trained.state_dict())
    clean.dp_outcome = TrainingOutcome(
        train_s=train_s, private=private, epsilon_spent=epsilon_spent,
        noise_multiplier=float(opt.noise_multiplier) if private else None,
        sample_rate=float(loader.sample_rate) if private else None,
        steps=steps,
    )
    return clean.eval()


class DPSGDPipeline(PlaintextPipeline):
    """Serve a DP-SGD-trained copy of the workload's architecture; plaintext inference on the node."""

    def __init__(
        self,
        target_epsilon: Annotated[float, Range(gt=0)] | None = 1.0,
        delta: Annotated[float, Range(gt=0, lt=1)] | None = None,
        max_grad_norm: Annotated[float, Range(gt=0)] = 1.0,
        epochs: Annotated[int, Range(ge=1)] = 30,
        lr: Annotated[float, Range(gt=0)] = 0.01,
        batch_size: Annotated[int, Range(ge=1)] = 64,
        optimizer: Literal["adam", "sgd"] = "adam",
        accountant: Literal["prv", "rdp", "gdp"] = "prv",
    ) -> None:
        def bad(name: str, value: Any, accepted: str) -> ValueError:
            return ValueError(f"dp_sgd: {name}={value!r} is not accepted; {name} must be {accepted}")

        if target_epsilon is not None and not (target_epsilon > 0 and math.isfinite(target_epsilon)):
            raise bad("target_epsilon", target_epsilon, "a finite number > 0, or null for non-private")
        if delta is not None and not 0.0 < delta < 1.0:
            raise bad("delta", delta, "in (0, 1), or null for min(1e-5, 1/(10 N_train))")
        if not max_grad_norm > 0:
            raise bad("max_grad_norm", max_grad_norm, "> 0")
        if epochs < 1:
            raise bad("epochs", epochs, ">= 1")
        if not lr > 0:
            raise bad("lr", lr, "> 0")
        if batch_size < 1:
            raise bad("batch_size", batch_size, ">= 1")
        if optimizer not in OPTIMIZERS:
            raise bad("optimizer", optimizer, f"one of {', '.join(OPTIMIZERS)}")
        if accountant not in ACCOUNTANTS:
            raise bad("accountant", accountant, f"one of {', '.join(ACCOUNTANTS)}")
        self.target_epsilon = target_epsilon
        self.delta = delta
        self.recipe = DPRecipe(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                               max_grad_norm=max_grad_norm, accountant=accountant)
        super().__init__()
        self._workload: Workload | None = None
        self._nonprivate: nn.Module | None = None
        self._features = FeatureCache()

    def check(self, workload: Workload) -> None:
        """Opacus must be able to compute per-sample gradients for every trainable layer."""
        from opacus.validators import ModuleValidator

        model = workload.new_model()
        split = frozen_split(model)
        model = ModuleValidator.fix(split.head if split is not None else model)
        errors = ModuleValidator.validate(model, strict=False)
        if errors:
            raise Unsupported(f"Opacus cannot train {type(model).__name__}: {'; '.join(map(str, errors))}")

    def _delta(self, workload: Workload) -> float:
        return self.delta if self.delta is not None else default_delta(len(workload.dataset.x_train))

    def _params(self, workload: Workload, **extra: Any) -> dict[str, Any]:
        return {**dataclasses.asdict(self.recipe), "delta": self._delta(workload),
                "version": RECIPE_VERSION, **extra}

    def prepare(self, workload: Workload) -> None:
        ds = workload.dataset
        delta = self._delta(workload)
        self._workload = workload
        # frozen-prefix features: in memory for the twin, the DP model and the shadows; on disk
        # next to the cached models (keyed by the prefix's weights and the data) for later runs
        self._features = FeatureCache(workload.cache_dir / "frozen-features")
        self._nonprivate = workload.cached(
            "dp_sgd-nonprivate", self._params(workload),
            lambda: train_model(workload.new_model(), ds.x_train, ds.y_train, self.recipe, delta=delta,
                                seed=workload.seed, desc="non-private twin",
                                features=self._features))
        if self.target_epsilon is None:
            self._model = self._nonprivate
        else:
            params = self._params(workload, target_epsilon=self.target_epsilon)
            self._model = workload.cached("dp_sgd", params, lambda: self._train_private(workload, delta))

    def _train_private(self, workload: Workload, delta: float) -> nn.Module:
        """DP training, with the non-private recipe timed right before it so the overhead ratio
        compares two runs under the same machine load."""
        ds = workload.dataset
        twin = train_model(workload.new_model(), ds.x_train, ds.y_train, self.recipe, delta=delta,
                           seed=workload.seed, desc="non-private timing", features=self._features)
        model = train_model(workload.new_model(), ds.x_train, ds.y_train, self.recipe, delta=delta,
                            seed=workload.seed, target_epsilon=self.target_epsilon,
                            desc=f"DP-SGD eps={self.target_epsilon}", features=self._features)
        model.dp_outcome = dataclasses.replace(model.dp_outcome, nonprivate_train_s=twin.dp_outcome.train_s)
        return model

    def metrics(self) -> dict[str, Any]:
        """Privacy spent and training cost against the non-private twin (the membership audit is
        the harness's, on ``trained_model``)."""
        workload, model = self._workload, self._model
        ds = workload.dataset
        dp: TrainingOutcome = model.dp_outcome
        twin: TrainingOutcome = self._nonprivate.dp_outcome
        nonprivate_s = dp.nonprivate_train_s if dp.nonprivate_train_s is not None else twin.train_s
        out: dict[str, Any] = {
            "dp_private": dp.private,
            "epsilon_spent": dp.epsilon_spent,
            "dp_delta": self._delta(workload),
            "dp_noise_multiplier": dp.noise_multiplier,
            "dp_sample_rate": dp.sample_rate,
            "dp_steps": dp.steps,
            "train_s": dp.train_s,
            "nonprivate_train_s": nonprivate_s,
            "train_overhead": dp.train_s / nonprivate_s if nonprivate_s > 0 else None,
            "dp_test_accuracy": model_accuracy(model, ds.x_test, ds.y_test),
            "nonprivate_test_accuracy": model_accuracy(self._nonprivate, ds.x_test, ds.y_test),
        }
        out["dp_accuracy_cost"] = out["nonprivate_test_accuracy"] - out["dp_test_accuracy"]
        out["dp_frozen_features"] = dp.frozen_features
        if dp.frozen_features:  # train_s and nonprivate_train_s are then the head's training alone
            out["dp_feature_s"] = dp.feature_s
            out["mode"] = "head only, on frozen features computed once"
        return out

    def trained_model(self) -> TrainedModel:
        """The served model, its training data, its recipe for shadows and its (epsilon, delta)."""
        workload, dp = self._workload, self._model.dp_outcome
        ds = workload.dataset
        return TrainedModel(
            model=self._model, train_x=ds.x_train, train_y=ds.y_train, retrain=self._shadow_trainer(dp),
            epsilon=dp.epsilon_spent if dp.private else None,
            delta=self._delta(workload) if dp.private else None,
        )

    def _shadow_trainer(self, dp: TrainingOutcome):
        """Shadows get the target's recipe: same hyperparameters and, if private, the same noise
        multiplier (on as many samples as the target, hence the same sampling rate and epsilon)."""
        workload, delta = self._workload, self._delta(self._workload)

        def train(x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
            return workload.cached(
                "dp_sgd-shadow", self._params(workload, noise_multiplier=dp.noise_multiplier,
                                              shadow_seed=seed, data=data_digest(x, y)),
                lambda: train_model(workload.new_model(), x, y, self.recipe, delta=delta, seed=seed,
                                    noise_multiplier=dp.noise_multiplier, desc=f"shadow {seed}",
                                    features=self._features))

        return train


def default_delta(n_train: int) -> float:
    """min(1e-5, 1/(10 N)): the delta used when none is given."""
    return min(DEFAULT_DELTA, 1.0 / (DELTA_PER_SAMPLE_FACTOR * n_train))
