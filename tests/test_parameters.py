"""Technique parameters typed from constructor annotations: one helper for every technique."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pytest
from omegaconf import OmegaConf

from nesabench.build import ConfigError, build
from nesabench.config import check_pipeline
from nesabench.parameters import Range, check_parameters


@dataclass
class Profile:
    epc_mb: Annotated[int, Range(ge=1)] = 128
    vendor: str = "intel"


class Example:
    def __init__(
        self,
        epochs: Annotated[int, Range(ge=1)] = 3,
        lr: Annotated[float, Range(gt=0, lt=2)] = 0.1,
        epsilon: Annotated[float, Range(gt=0)] | None = 1.0,
        mode: Literal["fast", "exact"] = "fast",
        sizes: Sequence[Annotated[int, Range(ge=10, le=60)]] = (43, 33),
        flag: bool = True,
        key: dict[str, Any] | None = None,
        tamper: dict[str, float] | None = None,
        profile: Profile | None = None,
        anything=None,
    ):
        self.values = dict(epochs=epochs, lr=lr, epsilon=epsilon, mode=mode, sizes=sizes, flag=flag, key=key,
                           tamper=tamper, profile=profile, anything=anything)

    def check(self, workload): ...
    def prepare(self, workload): ...
    def infer(self, x): ...
    def views(self): ...


def test_values_that_fit_pass_typed() -> None:
    out = check_parameters(Example, {
        "epochs": 5, "lr": 1, "epsilon": None, "mode": "exact", "sizes": [40, 50], "flag": False,
        "key": {"seed_bits": 128, "nested": {"a": 1}}, "tamper": {"rate": 1}, "profile": {"epc_mb": 93},
        "anything": object})
    assert out["lr"] == 1.0 and isinstance(out["lr"], float)
    assert out["profile"] == Profile(epc_mb=93) and out["tamper"] == {"rate": 1.0}
    assert out["key"]["nested"] == {"a": 1} and out["sizes"] == [40, 50]


@pytest.mark.parametrize(("values", "message"), [
    ({"epochs": "ten"}, "technique.epochs='ten' is not accepted; epochs must be an integer >= 1"),
    ({"epochs": 0}, "technique.epochs=0 is not accepted; epochs must be an integer >= 1"),
    ({"epochs": 2.5}, "epochs must be an integer"),
    ({"epochs": True}, "epochs must be an integer"),
    ({"lr": 2.5}, "lr must be a number > 0 and < 2"),
    ({"lr": float("nan")}, "lr must be a number > 0 and < 2"),
    ({"epsilon": "high"}, "epsilon must be a number > 0 or null"),
    ({"mode": "slow"}, "mode must be one of fast, exact"),
    ({"sizes": [43, 99]}, "sizes must be a list of (an integer >= 10 and <= 60)"),
    ({"flag": "yes"}, "flag must be true or false"),
    ({"key": [1, 2]}, "key must be a mapping or null"),
    ({"tamper": {"rate": "x"}}, "technique.tamper.rate='x' is not accepted; rate must be a number"),
    ({"profile": {"epc_mb": 0}},
     "technique.profile.epc_mb=0 is not accepted; epc_mb must be an integer >= 1"),
    ({"profile": {"epcmb": 64}}, "technique.profile.epcmb=64 is not accepted; epcmb must be one of the keys "
                                 "epc_mb, vendor"),
    ({"strenght": 4}, "technique ex has no parameter strenght; it accepts: epochs, lr, epsilon, mode"),
])
def test_a_value_that_does_not_fit_names_parameter_value_and_what_is_accepted(values, message) -> None:
    with pytest.raises(ConfigError) as err:
        check_parameters(Example, values, "technique", name="ex")
    assert message in str(err.value)


def test_build_passes_typed_values_and_nested_dicts_from_a_config() -> None:
    node = OmegaConf.create({"_target_": f"{__name__}.Example", "lr": 1, "profile": {"epc_mb": 64},
                             "key": {"bits": 128}})
    obj = build(node, "technique", typed=True)
    assert obj.values["lr"] == 1.0 and obj.values["profile"] == Profile(epc_mb=64)
    assert obj.values["key"] == {"bits": 128}


def test_a_class_without_the_pipeline_methods_is_refused_with_what_it_lacks() -> None:
    class Half:
        def check(self, workload): ...
        def infer(self, x): ...

    needs = "has no prepare, views; a technique needs check, prepare, infer, views"
    with pytest.raises(ConfigError, match=needs):
        check_pipeline(Half)
    check_pipeline(Example)
