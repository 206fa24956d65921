"""Structured configs: Hydra checks types and key names when it composes the config.

``validate`` adds what types cannot say (ranges, and that the technique's own parameters are ones
its class accepts), so that a bad config fails before anything is trained or timed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from nesabench.build import ConfigError, accepted_parameters, target_of


@dataclass
class HarnessConfig:
    warmup: int = 3  # untimed calls before timing
    repeats: int = 30  # timed calls; p50/p95 are taken over these
    batch_size: int = 1  # samples per timed call (1 = per-sample latency)
    eval_samples: Optional[int] = None  # noqa: UP045 - OmegaConf reads typing.Optional  # test samples for quality; None = the whole test split
    leakage: bool = True  # run the leakage attacks on the views (never timed)
    resume: bool = False  # skip a run whose record (same config hash, status ok) already exists
    torch_threads: Optional[int] = None  # noqa: UP045 - torch intra-op threads while measuring; None = torch's default
    attacker_knows_model: bool = True  # attacks may use the public model's weights (EE weight matching)

    def __post_init__(self) -> None:
        for name in ("repeats", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"harness.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ConfigError(f"harness.warmup must be >= 0, got {self.warmup}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ConfigError(f"harness.torch_threads must be >= 1 or null, got {self.torch_threads}")
        if self.eval_samples is not None and self.eval_samples < 1:
            raise ConfigError(f"harness.eval_samples must be >= 1 or null, got {self.eval_samples}")


@dataclass
class WorkloadConfig:
    name: str = MISSING
    dataset: dict[str, Any] = MISSING  # _target_ returning a nesabench Dataset
    model: dict[str, Any] = MISSING  # _target_ building a torch.nn.Module
    train: dict[str, Any] = MISSING  # _target_ of a recipe(model, dataset, *, seed, desc, ...)


@dataclass
class PathsConfig:
    results_dir: str = "results"
    cache_dir: str = ".cache/nesabench"
    figures_dir: str = "paper_figures"


@dataclass
class Config:
    workload: WorkloadConfig = MISSING
    technique: Any = MISSING  # {_target_, name, **parameters of the class}
    harness: HarnessConfig = field(default_factory=HarnessConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    seed: int = 0


def register() -> None:
    ConfigStore.instance().store(name="nesabench_schema", node=Config)


def validate(cfg: DictConfig) -> HarnessConfig:
    """Check what composition cannot; returns the harness settings as a typed object."""
    harness = OmegaConf.to_object(cfg.harness)
    tech = cfg.technique
    if not isinstance(tech, DictConfig) or "name" not in tech:
        raise ConfigError("technique must be a config with a name and a _target_")
    names, var_kw = accepted_parameters(target_of(tech, "technique"))
    unknown = [k for k in tech if not str(k).startswith("_") and k != "name" and k not in names]
    if unknown and not var_kw:
        raise ConfigError(
            f"technique {tech.name!r} has no parameter {', '.join(map(str, unknown))}; "
            f"it accepts: {', '.join(names) or '(none)'}"
        )
    return harness
