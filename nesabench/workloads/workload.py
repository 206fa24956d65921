"""A workload: a dataset, a model architecture and a training recipe, trained once and cached.

The trained weights are keyed by a hash of the workload config, the seed and the torch version,
so every technique in a sweep gets the identical model.
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from nesabench.atomic import atomic_write_bytes, atomic_write_text
from nesabench.build import ConfigError, build
from nesabench.confighash import stable_hash
from nesabench.stopwatch import Stopwatch
from nesabench.workloads.data import Dataset

log = logging.getLogger(__name__)


@dataclass
class Workload:
    """What a pipeline gets in ``check`` and ``prepare``.

    ``model`` is the trained plaintext model in eval mode: pipelines must not change it (use
    ``copy_model``). ``train`` runs the workload's own recipe on any model, and ``cached`` keeps
    a derived model (fine-tuned, DP-trained, ...) next to the workload's own.
    """

    name: str
    dataset: Dataset
    model: nn.Module
    seed: int
    key: str
    config: dict[str, Any]
    cache_dir: Path
    new_model: Callable[[], nn.Module]
    recipe: Callable[..., nn.Module]
    train_s: float = 0.0
    from_cache: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    def copy_model(self) -> nn.Module:
        return copy.deepcopy(self.model).eval()

    def train(self, model: nn.Module, desc: str = "training", **overrides: Any) -> nn.Module:
        """Train ``model`` with this workload's recipe (``overrides`` replace recipe arguments)."""
        return self.recipe(model, self.dataset, seed=self.seed, desc=desc, **overrides)

    def calibration(self, n: int | None = None) -> torch.Tensor:
        """Representative inputs from the train split (for quantization, circuits, probes)."""
        n = len(self.dataset.x_train) if n is None else n
        return self.dataset.x_train[:n]

    def cached(self, tag: str, params: dict[str, Any], make: Callable[[], nn.Module]) -> nn.Module:
        """A model derived from this workload, built by ``make`` once and then loaded from disk."""
        key = stable_hash({"workload": self.key, "tag": tag, "params": params})
        return load_or_build(self.cache_dir / f"{self.name}-{tag}-{key}.pt", make)


def load_or_build(path: Path, make: Callable[[], nn.Module]) -> nn.Module:
    """Load a whole pickled module from ``path``, or build it with ``make`` and save it atomically."""
    if path.exists():
        return torch.load(path, weights_only=False).eval()
    model = make()
    buf = io.BytesIO()
    torch.save(model, buf)
    atomic_write_bytes(path, buf.getvalue())
    return model.eval()


def load_workload(cfg: DictConfig, seed: int, cache_dir: str | Path) -> Workload:
    """Build the dataset, then load the trained model from the cache or train and cache it."""
    name = cfg.name
    plain_cfg = OmegaConf.to_container(cfg, resolve=True)
    key = stable_hash({"workload": plain_cfg, "seed": seed, "torch": torch.__version__})
    cache_dir = Path(cache_dir)
    dataset: Dataset = build(cfg.dataset, "workload.dataset", offered={"seed": seed})
    if not isinstance(dataset, Dataset):
        raise ConfigError(
            f"workload.dataset must return nesabench.workloads.data.Dataset, got {type(dataset).__name__}"
        )
    offered = {**dataset.model_kwargs, "seed": seed}

    def new_model() -> nn.Module:
        torch.manual_seed(seed)
        model = build(cfg.model, "workload.model", offered=offered)
        if not isinstance(model, nn.Module):
            raise ConfigError(f"workload.model must build a torch.nn.Module, got {type(model).__name__}")
        return model

    recipe = build(cfg.train, "workload.train", _partial_=True)
    path = cache_dir / f"{name}-{key}.pt"
    from_cache = path.exists()
    if from_cache:
        log.info("workload %s: trained model from cache %s", name, path)
    else:
        log.info("workload %s: training (cached afterwards under %s)", name, cache_dir)
    with Stopwatch() as clock:
        model = load_or_build(path, lambda: recipe(new_model(), dataset, seed=seed, desc=f"train {name}"))
    train_s = clock.seconds
    if not from_cache:
        atomic_write_text(path.with_suffix(".json"), json.dumps({"workload": plain_cfg, "seed": seed,
                                                                 "train_s": train_s}, indent=2))
    return Workload(
        name=name, dataset=dataset, model=model, seed=seed, key=key, config=plain_cfg,
        cache_dir=cache_dir, new_model=new_model, recipe=recipe, train_s=train_s,
        from_cache=from_cache,
    )
