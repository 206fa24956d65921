"""Shared fixtures: compose configs with Hydra's compose API and run experiments into tmp folders."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from nesabench.cli import CONF_DIR
from nesabench.harness.runner import run_experiment
from nesabench.records import Record
from nesabench.workloads.workload import Workload, load_workload

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Trained models are shared across tests (and with `make table`): training is deterministic.
CACHE_DIR = Path(os.environ.get("NESABENCH_CACHE", Path(__file__).resolve().parents[1] / ".cache/nesabench"))


def compose_config(overrides: list[str], results_dir: Path | None = None) -> DictConfig:
    extra = [f"paths.cache_dir={CACHE_DIR}"]
    if results_dir is not None:
        extra.append(f"paths.results_dir={results_dir}")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=[*overrides, *extra])


@cache
def trained_workload(name: str) -> Workload:
    """A built-in workload with its trained model, loaded once per test session."""
    cfg = compose_config([f"workload={name}"])
    return load_workload(cfg.workload, cfg.seed, cfg.paths.cache_dir)


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Record]:
    """``run("workload=mlp_cancer", "technique=plaintext")`` -> the Record written under tmp_path."""

    def _run(*overrides: str) -> Record:
        cfg = compose_config(["harness=quick", *overrides], results_dir=tmp_path)
        return run_experiment(cfg, overrides=list(overrides))

    return _run
