"""Structured configs: Hydra checks types and key names when it composes the config.

``validate`` adds what types cannot say: ranges, the technique's parameters typed from its
constructor's annotations (``nesabench.parameters``), that the technique has the ``Pipeline``
methods, that workload factories accept their keys, and that the output folders can be written,
so that a bad config fails before anything is trained or timed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from nesabench.build import ConfigError, target_of
from nesabench.parameters import check_parameters


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
    # Wall-clock budget of a cell's quality pass (None = none): the pass stops after the sample that
    # crosses it, and timed calls are cut to what fits in it (at least one). make table uses it so a
    # technique taking minutes per sample cannot take the whole budget; fast techniques never reach it.
    max_eval_s: Optional[float] = None  # noqa: UP045 - OmegaConf reads typing.Optional
    # The leakage pass's attacker side: at most this many train inputs run through the technique, in
    # at most this many seconds (probes train on them). Fewer than 32 pairs: probes cross-validate on
    # the evaluated pairs instead; a record says leakage_attacker_budget_hit when time cut them short.
    leakage_attacker_samples: int = 256  # = nesabench.leakage.suite.MAX_ATTACKER_SAMPLES
    leakage_attacker_s: float = 10.0  # = nesabench.leakage.suite.ATTACKER_BUDGET_S
    # Views attacked per untrusted party (None = every view: the full pass). A cap keeps the views
    # most likely to leak (nesabench.leakage.view_selection); records say leakage.views_attacked/_total.
    leakage_views_per_party: Optional[int] = None  # noqa: UP045 - OmegaConf reads typing.Optional
    # Shadow models per membership audit of a model a technique trained (and of the workload's own
    # model, its comparison point): 0 = the LOSS attack only; >= 2 adds offline LiRA. Each shadow is
    # one more training run of the recipe (minutes for minilm's on a cold cache).
    mia_shadows: int = 4  # = nesabench.harness.training_audit.SHADOWS

    def __post_init__(self) -> None:
        for name in ("repeats", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"harness.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ConfigError(f"harness.warmup must be >= 0, got {self.warmup}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ConfigError(f"harness.torch_threads must be >= 1 or null, got {self.torch_threads}")
        if self.max_eval_s is not None and not self.max_eval_s > 0:
            raise ConfigError(f"harness.max_eval_s must be > 0 or null, got {self.max_eval_s}")
        if self.leakage_attacker_samples < 0:
            raise ConfigError(
                f"harness.leakage_attacker_samples must be >= 0, got {self.leakage_attacker_samples}")
        if not self.leakage_attacker_s >= 0:
            raise ConfigError(f"harness.leakage_attacker_s must be >= 0, got {self.leakage_attacker_s}")
        if self.leakage_views_per_party is not None and self.leakage_views_per_party < 1:
            raise ConfigError(f"harness.leakage_views_per_party must be >= 1 or null (every view), "
                              f"got {self.leakage_views_per_party}")
        if self.mia_shadows < 0 or self.mia_shadows == 1:
            raise ConfigError(
                f"harness.mia_shadows must be 0 (LOSS attack only) or >= 2, got {self.mia_shadows}")
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


def pipeline_methods() -> tuple[str, ...]:
    """Methods every technique has (``nesabench.pipeline.Pipeline``); the optional ones are read off."""
    from nesabench.pipeline import Pipeline  # torch: only when a technique is checked

    return tuple(n for n, v in vars(Pipeline).items() if not n.startswith("_") and callable(v))

#: Workload parts built from their own ``_target_``; their keys are checked against it.
WORKLOAD_PARTS = ("dataset", "model", "train")


def pipeline_faults(obj: Any) -> list[str]:
    """``Pipeline`` methods a technique class (or object) lacks."""
    return [m for m in pipeline_methods() if not callable(getattr(obj, m, None))]


def check_pipeline(obj: Any, where: str = "technique") -> None:
    missing = pipeline_faults(obj)
    if missing:
        name = getattr(obj, "__qualname__", type(obj).__qualname__)
        raise ConfigError(
            f"{where}: {name} is not a nesabench Pipeline: it has no {', '.join(missing)}; a technique "
            f"needs {', '.join(pipeline_methods())} (see nesabench/pipeline.py)"
        )


def technique_parameters(tech: DictConfig) -> dict[str, Any]:
    """The technique's own parameters: its config minus ``name`` and ``_``-keys."""
    values = OmegaConf.to_container(tech, resolve=True)
    return {k: v for k, v in values.items() if not str(k).startswith("_") and k != "name"}


def check_writable(folder: str, key: str, env: str) -> None:
    """A folder results or caches go to must exist (it is created) and take a file."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".nesabench-probe-"):
            pass
    except OSError as err:
        raise ConfigError(
            f"{key}={folder} cannot be written ({err.strerror or err}); set {key}=<folder> or ${env} "
            "to a folder you can write"
        ) from err


def validate(cfg: DictConfig) -> HarnessConfig:
    """Check what composition cannot; returns the harness settings as a typed object.

    Nothing is loaded, trained or timed here: every error is a ``ConfigError`` naming the key,
    the value and what is accepted.
    """
    try:
        harness = OmegaConf.to_object(cfg.harness)
    except ConfigError:
        raise
    except Exception as err:  # OmegaConf wraps what __post_init__ raises in some versions
        raise ConfigError(str(err)) from err
    tech = cfg.technique
    if not isinstance(tech, DictConfig) or "name" not in tech:
        raise ConfigError("technique must be a config with a name and a _target_")
    target = target_of(tech, "technique")
    check_pipeline(target)
    check_parameters(target, technique_parameters(tech), "technique", name=str(tech.name))
    for part in WORKLOAD_PARTS:
        node = cfg.workload.get(part)
        if isinstance(node, DictConfig):
            own = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
                   if not str(k).startswith("_")}
            check_parameters(target_of(node, f"workload.{part}"), own, f"workload.{part}")
    check_writable(cfg.paths.results_dir, "paths.results_dir", "NESABENCH_RESULTS")
    check_writable(cfg.paths.cache_dir, "paths.cache_dir", "NESABENCH_CACHE")
    return harness
