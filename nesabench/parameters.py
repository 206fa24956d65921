"""Technique parameters typed from the constructor's annotations, checked before anything runs.

A technique declares its parameters once, in its ``__init__`` signature; this module reads them
there so a wrong value fails as a configuration error naming the parameter, the value and what is
accepted, before a workload is loaded or anything is timed. Ranges are declared next to the type
(benchopt-style, not as runtime checks buried in the body)::

    from typing import Annotated, Literal
    from nesabench.parameters import Range

    def __init__(self, epsilon: Annotated[float, Range(gt=0)] = 1.0,
                 mechanism: Literal["laplace", "gaussian"] = "laplace",
                 profile: dict[str, Any] | None = None): ...

Understood annotations: ``bool``, ``int`` (not bool), ``float`` (ints accepted), ``str``,
``None``, unions/``Optional``, ``Literal[...]``, ``list``/``tuple``/``Sequence`` of a type,
``dict``/``Mapping``, dataclasses (a mapping of their fields, built into the dataclass), ``Any``
and unannotated parameters (anything), and ``Annotated[T, Range(...)]``. A value that is a config
node with its own ``_target_`` is left to ``nesabench.build.build``.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from nesabench.configerror import ConfigError


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric parameter: ``Annotated[int, Range(ge=1)]``, ``Range(gt=0, lt=1)``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, value: Any) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def describe(self) -> str:
        parts = [f"{op} {_num(b)}" for op, b in ((">=", self.ge), (">", self.gt), ("<=", self.le),
                                                  ("<", self.lt)) if b is not None]
        return " and ".join(parts) if parts else "finite"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


class Invalid(Exception):
    """A value does not fit an annotation; ``accepted`` says what would."""

    def __init__(self, accepted: str, key: str = "", value: Any = None):
        super().__init__(accepted)
        self.accepted, self.key, self.value = accepted, key, value


_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Collection, collections.abc.Iterable)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def describe(tp: Any) -> str:
    """What an annotation accepts, in words a config author reads."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is inspect.Parameter.empty:
        return "anything"
    if origin is Annotated:
        ranges = [m.describe() for m in args[1:] if isinstance(m, Range)]
        return " ".join([describe(args[0]), *ranges])
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if tp is type(None) or tp is None:
        return "null"
    if origin is Literal:
        return "one of " + ", ".join("null" if a is None else str(a) for a in args)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin in _SEQUENCES or tp in (list, tuple):
        inner = [a for a in args if a is not Ellipsis]
        return "a list" + (f" of ({describe(inner[0])})" if inner else "")
    if origin in _MAPPINGS or tp in (dict, Mapping):
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(f.name for f in dataclasses.fields(tp))}"
    return f"a {getattr(tp, '__name__', str(tp))}"


def coerce(value: Any, tp: Any) -> Any:
    """``value`` checked against ``tp`` (and converted: int -> float, mapping -> dataclass)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is inspect.Parameter.empty or tp is object:
        return value
    if isinstance(value, Mapping) and "_target_" in value:
        return value  # built by Hydra through nesabench.build
    if origin is Annotated:
        try:
            out = coerce(value, args[0])
        except Invalid as err:
            if err.key:
                raise
            raise Invalid(describe(tp)) from None
        for meta in args[1:]:
            if isinstance(meta, Range) and out is not None and not meta.holds(out):
                raise Invalid(describe(tp))
        return out
    if origin in (Union, types.UnionType):
        nested = None
        for member in args:
            try:
                return coerce(value, member)
            except Invalid as err:
                nested = nested or (err if err.key else None)
        raise nested or Invalid(describe(tp))  # inside a mapping, the key at fault is the answer
    if tp is type(None) or tp is None:
        if value is None:
            return None
        raise Invalid("null")
    if origin is Literal:
        for choice in args:
            if value == choice and type(value) is type(choice):
                return value
        raise Invalid(describe(tp))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise Invalid(describe(tp))
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise Invalid(describe(tp))
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise Invalid(describe(tp))
    if tp is str:
        if isinstance(value, str):
            return value
        raise Invalid(describe(tp))
    if origin in _SEQUENCES or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise Invalid(describe(tp))
        inner = [a for a in args if a is not Ellipsis]
        if len(inner) > 1 and Ellipsis not in args:  # tuple[int, str]: one type per position
            if len(value) != len(inner):
                raise Invalid(describe(tp))
            try:
                items = [coerce(v, t) for v, t in zip(value, inner, strict=True)]
            except Invalid:
                raise Invalid(describe(tp)) from None
        else:
            try:
                items = [coerce(v, inner[0]) if inner else v for v in value]
            except Invalid:
                raise Invalid(describe(tp)) from None
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in _MAPPINGS or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise Invalid(describe(tp))
        if len(args) == 2:
            out = {}
            for k, v in value.items():
                try:
                    out[k] = coerce(v, args[1])
                except Invalid as err:
                    raise _nested(err, k, v) from None
            return out
        return dict(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise Invalid(describe(tp))
        return _dataclass_from(tp, value)
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise Invalid(describe(tp))
    return value  # an annotation this module does not read (a TypeVar, a Protocol...): the class checks


def _nested(err: Invalid, key: Any, value: Any) -> Invalid:
    """The same fault one level up: ``profile.epc_mb`` rather than ``epc_mb``."""
    return Invalid(err.accepted, key=f"{key}.{err.key}" if err.key else str(key),
                   value=err.value if err.key else value)


def _dataclass_from(cls: type, value: Mapping) -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in value if k not in names]
    if unknown:
        raise Invalid(f"one of the keys {', '.join(names)}", key=str(unknown[0]), value=value[unknown[0]])
    kwargs = {}
    for k, v in value.items():
        try:
            kwargs[k] = coerce(v, hints.get(k, Any))
        except Invalid as err:
            raise _nested(err, k, v) from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise Invalid(f"{describe(cls)} ({err})") from None


def parameter_types(obj: Callable) -> dict[str, Any]:
    """Each keyword parameter of a class's constructor (or a callable) and its annotation."""
    fn = obj.__init__ if isinstance(obj, type) else obj
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # an annotation that cannot be resolved: fall back to the raw ones
        hints = {}
    sig = inspect.signature(obj)
    return {p.name: hints.get(p.name, p.annotation) for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"}


def check_parameters(obj: Callable, values: Mapping[str, Any], where: str = "technique",
                     name: str = "") -> dict[str, Any]:
    """``values`` checked against ``obj``'s signature; returns them typed. One error lists all faults.

    Unknown names are reported with the accepted ones; a value of the wrong type or outside its
    declared range is reported with the parameter, the value and what the annotation accepts.
    """
    types_ = parameter_types(obj)
    sig = inspect.signature(obj)
    var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    faults, out = [], {}
    unknown = [k for k in values if k not in types_]
    if unknown and not var_kw:
        faults.append(f"{where}{' ' + name if name else ''} has no parameter {', '.join(map(str, unknown))}; "
                      f"it accepts: {', '.join(types_) or '(none)'}")
    for param, value in values.items():
        if param not in types_:
            out[param] = value
            continue
        try:
            out[param] = coerce(value, types_[param])
        except Invalid as err:
            key = f"{where}.{param}" + (f".{err.key}" if err.key else "")
            shown, leaf = (err.value, err.key.rsplit(".", 1)[-1]) if err.key else (value, param)
            faults.append(f"{key}={shown!r} is not accepted; {leaf} must be {err.accepted}")
    if faults:
        raise ConfigError("; ".join(faults))
    return out
