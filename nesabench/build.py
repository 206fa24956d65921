"""The one place where a config node with ``_target_`` becomes an object.

Errors name the config key, the target, and what it accepts, instead of a bare TypeError from
deep inside Hydra.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from nesabench.configerror import ConfigError
from nesabench.parameters import check_parameters

__all__ = ["ConfigError", "accepted_parameters", "build", "target_of"]


def target_of(node: Any, where: str) -> Any:
    target = node.get("_target_") if isinstance(node, (Mapping, DictConfig)) else None
    if not target:
        raise ConfigError(f"{where} has no _target_; set {where}._target_=package.module.Name")
    try:
        return get_object(target)
    except Exception as err:  # Hydra wraps import errors in several types
        raise ConfigError(f"{where}._target_={target!r} cannot be imported: {err}") from err


def accepted_parameters(obj: Any) -> tuple[list[str], bool]:
    """Keyword parameters a callable takes, and whether it also takes **kwargs."""
    sig = inspect.signature(obj)
    names = [
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    ]
    return names, any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def build(node: Any, where: str, offered: Mapping[str, Any] | None = None, typed: bool = False,
          **kwargs: Any) -> Any:
    """Instantiate ``node``: its own keys are passed strictly, ``offered`` ones only if accepted.

    ``offered`` is how a workload hands a factory facts it may or may not want (``num_classes``,
    ``seed``, ...): a user's own factory that ignores them still works. ``typed`` checks the own
    keys against the target's annotations first (``nesabench.parameters``) and passes them typed
    (a mapping annotated with a dataclass arrives as that dataclass).
    """
    obj = target_of(node, where)
    if typed:
        return _build_typed(obj, node, where, kwargs)
    names, var_kw = accepted_parameters(obj)
    own = [k for k in node if not str(k).startswith("_")]
    unknown = [k for k in own if k not in names and not var_kw]
    if unknown:
        raise ConfigError(
            f"{where}: {node['_target_']} does not accept {', '.join(map(str, unknown))}; "
            f"it accepts: {', '.join(names) or '(no keyword arguments)'}"
        )
    extra = {k: v for k, v in (offered or {}).items() if (var_kw or k in names) and k not in own}
    extra.update(kwargs)
    try:
        return instantiate(node, **extra, _convert_="all")
    except InstantiationException as err:
        cause = err.__cause__ or err
        raise ConfigError(f"{where}: building {node['_target_']} failed: {cause}") from err


def _build_typed(obj: Any, node: Any, where: str, kwargs: dict[str, Any]) -> Any:
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    own = {k: v for k, v in values.items() if not str(k).startswith("_")}
    for k, v in own.items():  # a parameter that is itself a built object
        if isinstance(v, Mapping) and "_target_" in v:
            own[k] = build(v, f"{where}.{k}")
    typed = check_parameters(obj, own, where)
    try:
        return obj(**typed, **kwargs)
    except Exception as err:  # the constructor's own checks: still a configuration error
        target = node["_target_"]
        raise ConfigError(f"{where}: building {target} failed: {type(err).__name__}: {err}") from err
