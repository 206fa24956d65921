"""Console entry points: ``nesabench`` (the Hydra app) and ``nesabench-report``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from nesabench.config import register

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger("nesabench")

register()
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under Hydra (tests calling run directly)
        return []


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig

    from nesabench.build import ConfigError
    from nesabench.harness.runner import run_experiment

    try:
        record = run_experiment(cfg, overrides=_overrides())
    except ConfigError as err:
        log.error("configuration error: %s", err)
        sys.exit(2)
    multirun = HydraConfig.get().mode.name == "MULTIRUN"
    if record.status == "failed" and not multirun:
        sys.exit(1)
    return 0


def report() -> None:
    from nesabench.report.summary import main as report_main

    report_main()


if __name__ == "__main__":
    main()
