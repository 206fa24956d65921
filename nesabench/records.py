"""One JSON file per run, written atomically; a folder of them is the experiment's result.

The schema is flat: the fields below, then ``param.<name>`` for each technique parameter, then
whatever the technique's ``metrics()`` and the leakage suite add (documented in the README).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from nesabench.atomic import atomic_write_text

Status = Literal["ok", "unsupported", "failed"]
SCHEMA_VERSION = 1


@dataclass
class Record:
    technique: str
    workload: str
    status: Status = "failed"
    reason: str = ""
    seed: int = 0
    config_hash: str = ""
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


def read_records(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Every record in ``runs_dir``; unreadable files are reported, not skipped silently."""
    out = []
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"record {path} is not valid JSON: {err}") from err
        rec["record_file"] = path.name
        out.append(rec)
    return out


def find_ok_record(runs_dir: str | Path, config_hash: str) -> Path | None:
    for path in Path(runs_dir).glob("*.json"):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if rec.get("config_hash") == config_hash and rec.get("status") == "ok":
            return path
    return None
