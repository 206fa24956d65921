"""Reader order of techniques and workloads, read from ``reader_order.yaml`` (data, not code).

Plaintext first, then the families in the order the file lists them; workloads by model size.
Anything the file does not name (a user's own technique or workload) comes after, alphabetically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

ORDER_FILE = Path(__file__).with_name("reader_order.yaml")


@dataclass(frozen=True)
class Family:
    key: str
    label: str
    short: str
    techniques: tuple[str, ...]


@dataclass(frozen=True)
class ReaderOrder:
    families: tuple[Family, ...]
    workloads: tuple[str, ...]

    @property
    def techniques(self) -> tuple[str, ...]:
        return tuple(t for f in self.families for t in f.techniques)

    def family_of(self, technique: str) -> Family | None:
        return next((f for f in self.families if technique in f.techniques), None)


@cache
def reader_order(path: Path = ORDER_FILE) -> ReaderOrder:
    data = yaml.safe_load(Path(path).read_text())
    families = tuple(Family(f["key"], f["label"], f.get("short", f["label"]), tuple(f["techniques"]))
                     for f in data["families"])
    return ReaderOrder(families, tuple(data["workloads"]))


def _ranked(names: Iterable, known: tuple[str, ...]) -> list:
    rank = {n: i for i, n in enumerate(known)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), str(n)))


def order_techniques(names: Iterable[str]) -> list[str]:
    """``names`` without repeats, plaintext first, then by family, unknown ones alphabetically after."""
    return _ranked(names, reader_order().techniques)


def order_workloads(names: Iterable[str]) -> list[str]:
    """``names`` without repeats, smallest model first, unknown ones alphabetically after."""
    return _ranked(names, reader_order().workloads)


def technique_rank(name: str) -> int:
    known = reader_order().techniques
    return known.index(name) if name in known else len(known)


def workload_rank(name: str) -> int:
    known = reader_order().workloads
    return known.index(name) if name in known else len(known)


def sort_rows(df, technique: str = "technique", workload: str = "workload", then: Iterable[str] = ()):
    """A frame's rows in reader order: by technique, then workload, then ``then``; unknown names
    alphabetically after the known ones."""
    if df.empty:
        return df
    keys = {}
    if technique in df.columns:
        keys["_t"] = df[technique].map(lambda n: (technique_rank(n), str(n)))
    if workload in df.columns:
        keys["_w"] = df[workload].map(lambda n: (workload_rank(n), str(n)))
    ranked = df.assign(**keys)
    by = [*keys, *then]
    try:
        ranked = ranked.sort_values(by, kind="stable", na_position="last")
    except TypeError:  # a `then` column mixing kinds: order by technique and workload only
        ranked = ranked.sort_values(list(keys), kind="stable")
    return ranked.drop(columns=list(keys)).reset_index(drop=True)
