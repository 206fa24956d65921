"""Console entry points: ``nesabench`` (the Hydra app) and ``nesabench-report``."""

from __future__ import annotations

import os
import sys
from dataclasses import fields
from pathlib import Path

import hydra
from omegaconf import DictConfig

from nesabench.config import Config, HarnessConfig, PathsConfig, WorkloadConfig, register

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

register()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TYPED_SECTIONS = {"harness": HarnessConfig, "paths": PathsConfig, "workload": WorkloadConfig}


def unknown_key_errors(argv: list[str]) -> list[str]:
    """Misspelt keys in command-line overrides, each with the keys that exist there.

    Hydra rejects them too, but without saying what is accepted; this says it first.
    """
    top = [f.name for f in fields(Config)]
    errors = []
    for arg in argv:
        if "=" not in arg or arg.startswith(("-", "+", "~", "hydra.", "hydra/")):
            continue
        key = arg.split("=", 1)[0]
        head, _, rest = key.partition(".")
        if head not in top and head != "experiment" and "/" not in head:
            errors.append(f"unknown config key {key!r}; top-level keys: {', '.join(top)}, experiment")
        elif rest and head in TYPED_SECTIONS:
            names = [f.name for f in fields(TYPED_SECTIONS[head])]
            if rest.split(".", 1)[0] not in names:
                errors.append(f"unknown key {key!r}; {head} accepts: {', '.join(names)}")
    return errors


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from nesabench.build import ConfigError
    from nesabench.harness.runner import run_experiment

    try:
        record = run_experiment(cfg, overrides=_overrides())
    except ConfigError as err:
        print(f"nesabench: configuration error: {err}", file=sys.stderr)
        sys.exit(2)
    if record.status == "failed" and HydraConfig.get().mode.name != "MULTIRUN":
        sys.exit(1)


def main() -> None:
    errors = unknown_key_errors(sys.argv[1:])
    if errors:
        sys.exit("nesabench: " + "\n".join(errors))
    hydra_main()


def report() -> None:
    from nesabench.report.summary import main as report_main

    report_main()


if __name__ == "__main__":
    main()
