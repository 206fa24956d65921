"""Console entry points: ``nesabench`` (the Hydra app) and ``nesabench-report``.

Before Hydra runs anything, ``preflight`` composes every job the command line asks for (each point
of a sweep) and validates it, so a bad configuration — a misspelt key with or without ``+``, a
parameter value of the wrong type or out of range, a folder that cannot be written, a sweep
experiment run without ``-m`` — exits 2 with a message naming what is wrong and what is accepted,
and nothing is loaded, timed or recorded.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from nesabench.config import Config, HarnessConfig, PathsConfig, WorkloadConfig, register
from nesabench.configerror import ConfigError

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

register()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TYPED_SECTIONS = {"harness": HarnessConfig, "paths": PathsConfig, "workload": WorkloadConfig}

#: Command-line flags after which there is nothing to run (help, printing the config, ...).
NOTHING_TO_RUN = ("help", "hydra_help", "version", "cfg", "info", "shell_completion")

#: Sweeps larger than this are validated on their first points only (composition takes ~50 ms).
MAX_PREFLIGHT_JOBS = 200

#: Loggers of third-party libraries: their records go to the run's log file only, unless
#: ``hydra.verbose`` names them (or is true). EZKL logs from Rust through pyo3-log.
QUIET_LOGGERS = ("ezkl", "halo2_proofs", "halo2_solidity_verifier", "concrete", "tenseal", "opacus",
                 "onnx", "onnxruntime", "transformers", "brevitas")


def unknown_key_errors(argv: list[str]) -> list[str]:
    """Misspelt keys of the typed sections (harness, paths, workload) in command-line overrides.

    Hydra rejects them too, but without saying what is accepted; this says it first.
    """
    top = [f.name for f in fields(Config)]
    errors = []
    for arg in argv:
        if "=" not in arg or arg.startswith(("-", "~", "hydra.", "hydra/")):
            continue
        key = arg.lstrip("+").split("=", 1)[0]
        head, _, rest = key.partition(".")
        if head not in top and head != "experiment" and "/" not in head:
            errors.append(f"unknown config key {key!r}; top-level keys: {', '.join(top)}, experiment")
        elif rest and head in TYPED_SECTIONS:
            names = [f.name for f in fields(TYPED_SECTIONS[head])]
            if rest.split(".", 1)[0] not in names:
                errors.append(f"unknown key {key!r}; {head} accepts: {', '.join(names)}")
    return errors


def _compose(overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def _compose_job(overrides: list[str]) -> DictConfig:
    """One job's config; a key Hydra refuses without ``+`` is retried with it, so the project's
    check (which names the accepted parameters) gives the answer instead of Hydra's advice."""
    from hydra.errors import ConfigCompositionException

    try:
        return _compose(overrides)
    except ConfigCompositionException as err:
        m = re.search(r"Could not override '([^']+)'", str(err))
        if not m:
            raise
        key = m.group(1)
        retry = [f"+{o}" if o.split("=", 1)[0] == key else o for o in overrides]
        try:
            cfg = _compose(retry)
        except ConfigCompositionException:
            raise err from None
        from nesabench.config import validate

        validate(cfg)  # names the accepted keys when the key is not one
        raise ConfigError(f"{key} is not in the config; to add it write +{key}=...") from None


def sweep_points(overrides: list[str], config_sweep: dict[str, Any]) -> list[list[str]]:
    """Every job of a sweep, as Hydra's basic sweeper makes them: the config's ``hydra.sweeper.params``
    first, the command line's sweeps replacing them key by key, the Cartesian product of all."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{k}={v}" for k, v in (config_sweep or {}).items()] + list(overrides)
    choices: dict[str, list[str]] = {}
    for o in OverridesParser.create().parse_overrides(lines):
        key = o.get_key_element()
        if o.is_sweep_override():
            choices[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={o.get_value_element_as_str()}"]
    return [list(p) for p in itertools.product(*choices.values())]


def preflight(argv: list[str]) -> None:
    """Compose and validate every job ``argv`` asks for; ``ConfigError`` or Hydra's error if one is bad."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from nesabench.config import validate

    args, _ = get_args_parser().parse_known_args(argv)
    if any(getattr(args, a, None) for a in NOTHING_TO_RUN) or args.config_path or args.config_dir or (
            args.config_name and args.config_name != "config"):
        return
    overrides = list(args.overrides)
    parsed = OverridesParser.create().parse_overrides(overrides)
    multirun = args.multirun or any(o.startswith("hydra.mode=") and "MULTIRUN" in o for o in overrides)
    base = [o.input_line for o in parsed if not o.is_sweep_override()]
    first = [f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}"
             for o in parsed if o.is_sweep_override()]
    cfg = _compose_job(base + first)
    params = cfg.hydra.sweeper.get("params")
    config_sweep = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    if not multirun:
        sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
        if sweeps:
            raise ConfigError(f"{' '.join(sweeps)} is a sweep; run it with -m: "
                              f".venv/bin/nesabench -m {' '.join(overrides)}")
        if config_sweep:
            name = cfg.hydra.runtime.choices.get("experiment")
            points = ", ".join(f"{k}={v}" for k, v in config_sweep.items())
            raise ConfigError(
                f"experiment={name} defines a sweep ({points}); run it with -m: "
                f".venv/bin/nesabench -m {' '.join(overrides)}"
            )
        validate(cfg)
        return
    jobs = sweep_points(overrides, config_sweep)
    for job in jobs[:MAX_PREFLIGHT_JOBS]:
        validate(_compose_job(job))


def quiet_third_party_logs() -> None:
    """Third-party loggers write to the run's log file, not the terminal, unless ``hydra.verbose``
    asks for them (``hydra.verbose=true`` or ``hydra.verbose=[ezkl]``)."""
    from hydra.core.hydra_config import HydraConfig

    verbose = HydraConfig.get().verbose
    if isinstance(verbose, bool):
        named = set()
    else:
        named = {verbose} if isinstance(verbose, str) else set(verbose or ())
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for name in QUIET_LOGGERS:
        if verbose is True or name in named:
            continue
        lg = logging.getLogger(name)
        lg.propagate = False
        lg.handlers = list(files)
    os.environ.setdefault("RUST_LOG", "warn")  # a Rust library logging straight to stderr


def _job_context() -> tuple[list[str], str | None, list[str]]:
    """The job's overrides, its ``experiment=`` choice and the keys that experiment sweeps."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    params = hc.sweeper.get("params") or {}
    return list(hc.overrides.task), hc.runtime.choices.get("experiment"), list(params.keys())


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from nesabench.harness.runner import run_experiment

    quiet_third_party_logs()
    overrides, experiment, sweep_keys = _job_context()
    try:
        record = run_experiment(cfg, overrides=overrides, experiment=experiment, sweep_keys=sweep_keys)
    except ConfigError as err:
        print(f"nesabench: configuration error: {err}", file=sys.stderr)
        sys.exit(2)
    if record.status == "failed" and HydraConfig.get().mode.name != "MULTIRUN":
        sys.exit(1)


def main() -> None:
    argv = sys.argv[1:]
    errors = unknown_key_errors(argv)
    if errors:
        print("nesabench: configuration error: " + "\n".join(errors), file=sys.stderr)
        sys.exit(2)
    from hydra.errors import HydraException

    try:
        preflight(argv)
    except ConfigError as err:
        print(f"nesabench: configuration error: {err}", file=sys.stderr)
        sys.exit(2)
    except HydraException as err:  # composition: unknown group option, wrong type in a typed section
        detail = f"\n{err.__cause__}" if err.__cause__ and str(err.__cause__) not in str(err) else ""
        print(f"nesabench: configuration error: {err}{detail}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


def report() -> None:
    from nesabench.report.summary import main as report_main

    report_main()


if __name__ == "__main__":
    main()
