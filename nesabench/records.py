"""One JSON file per run, written atomically; a folder of them is the experiment's result.

The schema is flat: the fields below, then ``param.<name>`` for each technique parameter, then
whatever the technique's ``metrics()`` and the leakage suite add (documented in the README).
"""

from __future__ import annotations

import json
import logging
import math
import time
import types
import typing
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from nesabench.atomic import atomic_write_text

log = logging.getLogger(__name__)

Status = Literal["ok", "unsupported", "failed"]
SCHEMA_VERSION = 2

#: ``experiment`` of a run that no ``experiment=`` config asked for.
ADHOC = "adhoc"


@dataclass
class Record:
    technique: str
    workload: str
    status: Status = "failed"
    reason: str = ""
    seed: int = 0
    config_hash: str = ""
    # provenance of a table cell: the experiment config, and the overrides the run added to it
    # beyond that experiment's own sweep (empty = the experiment exactly as defined)
    experiment: str = ADHOC
    variant: list[str] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    timestamp: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    # cost
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_mean_s: float | None = None
    latency_std_s: float | None = None
    latency_min_s: float | None = None
    latency_max_s: float | None = None
    latency_n: int | None = None
    latency_per_sample_s: float | None = None
    throughput_sps: float | None = None
    plaintext_latency_p50_s: float | None = None
    plaintext_latency_p95_s: float | None = None
    slowdown: float | None = None
    setup_s: float | None = None
    train_s: float | None = None
    eval_s: float | None = None
    batch_size: int | None = None
    warmup: int | None = None
    bytes_to_nodes: int | None = None
    view_kinds: str = ""
    peak_mem_mb: float | None = None
    peak_mem_delta_mb: float | None = None
    # quality
    accuracy: float | None = None
    plaintext_accuracy: float | None = None
    accuracy_loss: float | None = None
    fidelity_agreement: float | None = None
    fidelity_max_abs_err: float | None = None
    fidelity_cosine: float | None = None
    eval_samples: int | None = None
    # verifiability
    verified: bool | None = None
    tamper_detection_rate: float | None = None
    verify_s: float | None = None
    # provenance
    estimated: bool = False
    cpu_load_1m: float | None = None  # machine load when measuring ended: other work slows everything
    overrides: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    git_rev: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    traceback: str = ""
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def update(self, values: dict[str, Any]) -> None:
        """Set known fields by name and keep the rest as extra columns."""
        known = {f.name for f in fields(self)}
        for k, v in values.items():
            if k in known and k != "extra":
                setattr(self, k, v)
            else:
                self.extra[k] = v

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """A record read back (resume returns the stored one); unknown keys go to ``extra``."""
        rec = cls(technique=data["technique"], workload=data["workload"])
        rec.update({k: v for k, v in data.items() if k not in ("record_file", "extra")})
        return rec

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        extra = out.pop("extra")
        clash = sorted(set(extra) & set(out))
        if clash:
            raise ValueError(f"extra record keys shadow standard ones: {clash}")
        out.update(extra)
        return {k: _jsonable(v) for k, v in out.items()}


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else str(v)
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 1) == 0:
        return _jsonable(v.item())
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def record_path(runs_dir: Path, record: Record) -> Path:
    stamp = record.timestamp.replace(":", "").replace("-", "")[:15]
    return Path(runs_dir) / f"{stamp}_{record.workload}_{record.technique}_{record.run_id}.json"


def write_record(record: Record, runs_dir: str | Path) -> Path:
    path = record_path(Path(runs_dir), record)
    atomic_write_text(path, json.dumps(record.to_dict(), indent=1, sort_keys=False) + "\n")
    return path


def _accepts(tp: Any, value: Any) -> bool:
    """Whether a value read from JSON fits a Record field's annotation (numbers are numbers)."""
    if value is None:
        return True  # every optional column may be empty
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in args if a is not type(None))
    if origin is Literal:
        return value in args
    if tp is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in ("inf", "-inf")
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp in (bool, str):
        return isinstance(value, tp)
    base = origin or tp
    return isinstance(value, base) if isinstance(base, type) else True


FIELD_TYPES = typing.get_type_hints(Record)


def record_faults(rec: dict[str, Any]) -> list[str]:
    """Keys of a record whose value does not have the type the schema gives them."""
    faults = [k for k in ("technique", "workload", "status") if not isinstance(rec.get(k), str)]
    return faults + [k for k, tp in FIELD_TYPES.items()
                     if k in rec and k != "extra" and k not in faults and not _accepts(tp, rec[k])]


def read_records(runs_dir: str | Path, warn: Any = None) -> list[dict[str, Any]]:
    """Every record in ``runs_dir`` that can be read and typed.

    A file that is not JSON, or whose standard keys do not have their schema's types, is skipped
    with a warning naming the file and the key (``warn``: a callable taking the message; default
    the log), so one bad file never stops a report.
    """
    warn = warn or log.warning
    out = []
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            warn(f"skipping {path}: not a readable JSON record ({err})")
            continue
        if not isinstance(rec, dict):
            warn(f"skipping {path}: not a JSON object")
            continue
        faults = record_faults(rec)
        if faults:
            warn(f"skipping {path}: key {faults[0]}={rec.get(faults[0])!r} does not have the record's type "
                 f"({FIELD_TYPES.get(faults[0], str)})")
            continue
        rec.setdefault("experiment", ADHOC)
        rec.setdefault("variant", [])
        rec["record_file"] = path.name
        out.append(rec)
    return out


def find_ok_record(runs_dir: str | Path, config_hash: str, experiment: str = ADHOC) -> Path | None:
    """A finished (status ok) record of the same config in the same experiment, if any."""
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if (isinstance(rec, dict) and rec.get("config_hash") == config_hash and rec.get("status") == "ok"
                and rec.get("experiment", ADHOC) == experiment):
            return path
    return None


def load_record(path: str | Path) -> Record:
    return Record.from_dict(json.loads(Path(path).read_text()))


def summary_line(record: Record, path: str | Path | None) -> str:
    """What a person reads after a run: what ran, how it went, what it cost and protected, where."""
    def num(key: str, fmt: str) -> str | None:
        v = getattr(record, key, None) if key in FIELD_TYPES else record.extra.get(key)
        return None if v is None or isinstance(v, str) else format(v, fmt)

    parts = [f"{record.technique} / {record.workload}: {record.status}"]
    if record.status != "ok" and record.reason:
        parts[0] += f" ({record.reason[:160]})"
    slow = num("slowdown", ".3g")
    if slow is not None:
        parts.append(f"slowdown {'~' if record.estimated else ''}{slow}x")
    loss = num("accuracy_loss", ".3f")
    if loss is not None:
        parts.append(f"accuracy loss {loss}")
    if record.status == "ok":
        priv = num("input_privacy", ".2f")
        attack = record.extra.get("leakage_attack")
        shown = f"input privacy {priv}" + (f" ({attack})" if attack and attack != "none" else "")
        parts.append(shown if priv is not None else "input privacy not scored")
    if path is not None:
        parts.append(f"record {path}")
    return " | ".join(parts)
