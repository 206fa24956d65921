"""DP-SGD (Opacus): the workload's own architecture trained with differential privacy.

DP protects the training data, not the inference input: inference is plaintext on the node, which
sees the raw input. What DP costs is training time and accuracy; what it buys is a bound on
membership inference, which ``metrics`` audits with the LOSS attack and offline LiRA.

The comparison point is the NON-private model from the same recipe (same optimizer, learning
rate, batch size and epochs, no clipping or noise); ``target_epsilon: null`` serves that model, so
a sweep over epsilon includes its own baseline. The harness's ``accuracy_loss`` is measured against
the workload's plaintext model, as for every technique.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from baselines.plaintext import PlaintextPipeline
from nesabench.leakage.membership import dp_advantage_bound, membership_audit, membership_split
from nesabench.pipeline import Unsupported
from nesabench.progress import progress
from nesabench.threads import torch_threads
from nesabench.workloads.workload import Workload

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
ACCOUNTANTS = ("prv", "rdp", "gdp")
#: Bump when the training code changes, so cached DP models are not reused across versions.
RECIPE_VERSION = 2
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
) -> nn.Module:
    """Train ``model`` on (x, y): with Opacus when ``target_epsilon`` or ``noise_multiplier`` is given.

    Private training uses Poisson sampling, per-sample clipping and Gaussian noise drawn from a
    generator seeded by the OS CSPRNG (the noise and the batch sampling are the secret randomness
    of DP-SGD). Non-private training shuffles with ``seed``. Returns a clean module (no Opacus
    hooks) carrying a ``TrainingOutcome`` as ``dp_outcome``.
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
    with torch_threads(TRAIN_THREADS), warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.filterwarnings("ignore", module=r"opacus\..*")
        warnings.filterwarnings("ignore", message=".*full_backward_hook.*")
        t0 = time.perf_counter()
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
        train_s = time.perf_counter() - t0
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
        target_epsilon: float | None = 1.0,
        delta: float | None = None,
        max_grad_norm: float = 1.0,
        epochs: int = 30,
        lr: float = 0.01,
        batch_size: int = 64,
        optimizer: str = "adam",
        accountant: str = "prv",
        mia_shadows: int = 4,
        mia_attacker_fraction: float = 0.5,
        mia_shadow_fraction: float = 0.5,
        mia_plaintext: bool = True,
    ) -> None:
        def bad(name: str, value: Any, accepted: str) -> ValueError:
            return ValueError(f"dp_sgd: {name}={value!r} is not accepted; {name} must be {accepted}")

        if target_epsilon is not None and not (target_epsilon > 0 and math.isfinite(target_epsilon)):
            raise bad("target_epsilon", target_epsilon, "a finite number > 0, or null for non-private")
        if delta is not None and not 0.0 < delta < 1.0:
            raise bad("delta", delta, "in (0, 1), or null for 1/N_train")
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
        if mia_shadows < 0 or mia_shadows == 1:
            raise bad("mia_shadows", mia_shadows, "0 (LOSS attack only) or >= 2 (also offline LiRA)")
        if not 0.0 < mia_attacker_fraction < 1.0:
            raise bad("mia_attacker_fraction", mia_attacker_fraction, "in (0, 1)")
        if not 0.0 < mia_shadow_fraction <= 1.0:
            raise bad("mia_shadow_fraction", mia_shadow_fraction, "in (0, 1]")
        self.target_epsilon = target_epsilon
        self.delta = delta
        self.recipe = DPRecipe(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                               max_grad_norm=max_grad_norm, accountant=accountant)
        self.mia_shadows = mia_shadows
        self.mia_attacker_fraction = mia_attacker_fraction
        self.mia_shadow_fraction = mia_shadow_fraction
        self.mia_plaintext = mia_plaintext
        super().__init__()
        self._workload: Workload | None = None
        self._nonprivate: nn.Module | None = None

    def check(self, workload: Workload) -> None:
        """Opacus must be able to compute per-sample gradients for every trainable layer."""
        from opacus.validators import ModuleValidator

        model = ModuleValidator.fix(workload.new_model())
        errors = ModuleValidator.validate(model, strict=False)
        if errors:
            raise Unsupported(f"Opacus cannot train {type(model).__name__}: {'; '.join(map(str, errors))}")

    def _delta(self, workload: Workload) -> float:
        return self.delta if self.delta is not None else 1.0 / len(workload.dataset.x_train)

    def _params(self, workload: Workload, **extra: Any) -> dict[str, Any]:
        return {**dataclasses.asdict(self.recipe), "delta": self._delta(workload),
                "version": RECIPE_VERSION, **extra}

    def prepare(self, workload: Workload) -> None:
        ds = workload.dataset
        delta = self._delta(workload)
        self._workload = workload
        self._nonprivate = workload.cached(
            "dp_sgd-nonprivate", self._params(workload),
            lambda: train_model(workload.new_model(), ds.x_train, ds.y_train, self.recipe, delta=delta,
                                seed=workload.seed, desc="non-private twin"))
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
                           seed=workload.seed, desc="non-private timing")
        model = train_model(workload.new_model(), ds.x_train, ds.y_train, self.recipe, delta=delta,
                            seed=workload.seed, target_epsilon=self.target_epsilon,
                            desc=f"DP-SGD eps={self.target_epsilon}")
        model.dp_outcome = dataclasses.replace(model.dp_outcome, nonprivate_train_s=twin.dp_outcome.train_s)
        return model

    def metrics(self) -> dict[str, Any]:
        """Privacy spent, training cost against the non-private twin, and the membership audit."""
        workload, model = self._workload, self._model
        ds = workload.dataset
        dp: TrainingOutcome = model.dp_outcome
        twin: TrainingOutcome = self._nonprivate.dp_outcome
        delta = self._delta(workload)
        nonprivate_s = dp.nonprivate_train_s if dp.nonprivate_train_s is not None else twin.train_s
        out: dict[str, Any] = {
            "dp_private": dp.private,
            "epsilon_spent": dp.epsilon_spent,
            "dp_delta": delta,
            "dp_noise_multiplier": dp.noise_multiplier,
            "dp_sample_rate": dp.sample_rate,
            "dp_steps": dp.steps,
            "train_s": dp.train_s,
            "nonprivate_train_s": nonprivate_s,
            "train_overhead": dp.train_s / nonprivate_s if nonprivate_s > 0 else None,
            "dp_test_accuracy": _accuracy(model, ds.x_test, ds.y_test),
            "nonprivate_test_accuracy": _accuracy(self._nonprivate, ds.x_test, ds.y_test),
        }
        out["dp_accuracy_cost"] = out["nonprivate_test_accuracy"] - out["dp_test_accuracy"]
        split = membership_split(ds, self.mia_attacker_fraction, seed=workload.seed)
        out.update(membership_audit(model, split, self._shadow_trainer(dp), self.mia_shadows,
                                    self.mia_shadow_fraction, seed=workload.seed, prefix="mia_"))
        if dp.private:
            bound = dp_advantage_bound(dp.epsilon_spent, delta)
            out["mia_advantage_bound"] = bound
            out["mia_bound_respected"] = out["mia_advantage"] <= bound + out["mia_advantage_margin95"]
        if self.mia_plaintext:
            out.update(membership_audit(workload.model, split, self._plaintext_shadow_trainer(),
                                        self.mia_shadows, self.mia_shadow_fraction, seed=workload.seed,
                                        prefix="plaintext_mia_"))
        return out

    def _audit_params(self, seed: int) -> dict[str, Any]:
        return {"shadow_seed": seed, "attacker_fraction": self.mia_attacker_fraction,
                "shadow_fraction": self.mia_shadow_fraction}

    def _shadow_trainer(self, dp: TrainingOutcome):
        """Shadows get the target's recipe: same hyperparameters and, if private, the same noise."""
        workload, delta = self._workload, self._delta(self._workload)

        def train(x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
            return workload.cached(
                "dp_sgd-shadow", self._params(workload, noise_multiplier=dp.noise_multiplier,
                                              **self._audit_params(seed)),
                lambda: train_model(workload.new_model(), x, y, self.recipe, delta=delta, seed=seed,
                                    noise_multiplier=dp.noise_multiplier, desc=f"shadow {seed}"))

        return train

    def _plaintext_shadow_trainer(self):
        """Shadows of the workload's plaintext model: the workload's own recipe on attacker data."""
        workload = self._workload

        def train(x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
            data = dataclasses.replace(workload.dataset, x_train=x, y_train=y)

            def make() -> nn.Module:
                with torch_threads(TRAIN_THREADS):
                    return workload.recipe(workload.new_model(), data, seed=seed, desc=f"shadow {seed}")

            return workload.cached("plaintext-shadow", self._audit_params(seed), make)

        return train


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())
