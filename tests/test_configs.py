"""Every config composes and validates; bad configs fail early with a message naming what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import compose_config
from hydra.errors import ConfigCompositionException, MissingConfigException

from nesabench.build import ConfigError, build
from nesabench.cli import CONF_DIR, unknown_key_errors
from nesabench.config import HarnessConfig, validate

GROUPS = {g: sorted(p.stem for p in (Path(CONF_DIR) / g).glob("*.yaml"))
          for g in ("workload", "technique", "harness", "experiment")}


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, opts in GROUPS.items() for o in opts])
def test_every_config_composes_and_validates(group: str, option: str) -> None:
    cfg = compose_config([f"{group}={option}"])
    harness = validate(cfg)
    assert isinstance(harness, HarnessConfig)
    assert cfg.workload.name and cfg.technique.name and cfg.technique._target_


def test_every_group_has_options() -> None:
    assert all(GROUPS[g] for g in ("workload", "technique", "harness", "experiment"))
    assert {"mlp_cancer", "cnn_digits", "tiny_transformer", "minilm"} <= set(GROUPS["workload"])


def test_unknown_technique_lists_the_available_ones() -> None:
    with pytest.raises(MissingConfigException) as err:
        compose_config(["technique=quantum_magic"])
    assert "quantum_magic" in str(err.value) and "plaintext" in str(err.value)


def test_unknown_workload_lists_the_available_ones() -> None:
    with pytest.raises(MissingConfigException) as err:
        compose_config(["workload=imagenet"])
    assert "mlp_cancer" in str(err.value)


@pytest.mark.parametrize(("override", "message"), [
    ("harness.repeats=0", r"harness.repeats must be >= 1, got 0"),
    ("harness.batch_size=0", r"harness.batch_size must be >= 1"),
    ("harness.warmup=-1", r"harness.warmup must be >= 0"),
    ("harness.torch_threads=0", r"harness.torch_threads must be >= 1 or null"),
])
def test_out_of_range_harness_values_are_rejected_with_the_bound(override: str, message: str) -> None:
    cfg = compose_config([override])
    with pytest.raises(ConfigError, match=message):
        validate(cfg)


def test_wrong_type_is_rejected_at_compose_time() -> None:
    with pytest.raises(ConfigCompositionException, match="repeats"):
        compose_config(["harness.repeats=many"])


def test_misspelt_key_names_the_accepted_keys() -> None:
    with pytest.raises(ConfigCompositionException, match="repets"):
        compose_config(["harness.repets=3"])
    (msg,) = unknown_key_errors(["harness.repets=3"])
    assert "repeats" in msg and "warmup" in msg
    (msg,) = unknown_key_errors(["sede=3"])
    assert "seed" in msg
    assert unknown_key_errors(["harness.repeats=3", "workload=cnn_digits", "+technique.x=1"]) == []


def test_unknown_technique_parameter_names_the_accepted_ones() -> None:
    cfg = compose_config(["+technique.strength=11"])
    with pytest.raises(ConfigError, match=r"no parameter strength; it accepts"):
        validate(cfg)


def test_unknown_model_argument_names_the_accepted_ones() -> None:
    cfg = compose_config(["+workload.model.hiden=[8]"])
    accepted = r"does not accept hiden; it accepts: in_features, num_classes, hidden"
    with pytest.raises(ConfigError, match=accepted):
        build(cfg.workload.model, "workload.model", offered={"in_features": 30, "num_classes": 2})


def test_unimportable_target_is_named() -> None:
    cfg = compose_config(["technique._target_=nowhere.Pipeline"])
    with pytest.raises(ConfigError, match=r"technique._target_='nowhere.Pipeline' cannot be imported"):
        validate(cfg)
