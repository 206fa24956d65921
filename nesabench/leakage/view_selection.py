"""Which of a party's views the leakage pass attacks when it cannot afford all of them.

A secret-shared transformer hands each node a share at every layer (25 views per node for MiniLM),
and every share view gets the same probes. ``harness=table`` caps the views attacked per party
(``harness.leakage_views_per_party``); the full pass (``null``, the default, and what
``harness=overhead`` runs) attacks every one. The cap never drops the views most likely to leak:
  - every view that is not a share (opened permuted activations, outputs, plaintext, ...);
  - every share of a value opened to the node (``*.opened@nodeJ``: Beaver and truncation openings,
    where a reused or short mask would show);
  - the input share, every share of the first block (the first share's name up to its first dot,
    e.g. ``layer0.*``), and the last share (nearest the output);
and fills the rest of the cap with shares spread evenly over the remaining layers. The record
says how many were attacked out of how many (``leakage.views_attacked`` / ``leakage.views_total``)
and which were skipped, so a reader can see the sample is a sample. The collusion sweep pools the
layers the parties' attacked views share, plus every layer the selection must keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nesabench.leakage.views import ViewSeries

SHARE = "share"
INPUT_LAYER = "input"
OPENED = ".opened@"


@dataclass
class Selection:
    """The views to attack and the ones left out by the cap (never by an error)."""

    attacked: list[ViewSeries] = field(default_factory=list)
    skipped: list[ViewSeries] = field(default_factory=list)


def must_attack(series: Sequence[ViewSeries]) -> list[int]:
    """Indices (in protocol order) of the views a capped pass still attacks, whatever the cap."""
    shares = [i for i, s in enumerate(series) if s.kind == SHARE and OPENED not in s.layer]
    keep = {i for i, s in enumerate(series) if s.kind != SHARE or OPENED in s.layer}
    keep |= {i for i in shares if series[i].layer == INPUT_LAYER}
    rest = [i for i in shares if series[i].layer != INPUT_LAYER]
    if rest:
        keep |= {rest[0], rest[-1]}  # the first layer and the one nearest the output
        # the whole first block (``layer0.*``): pooled, its shares are the states nearest the tokens,
        # and the collusion score of MiniLM comes from there (layer0.gelu under nesa_hybrid)
        block = series[rest[0]].layer.split(".")[0] + "."
        keep |= {i for i in rest if series[i].layer.startswith(block)}
    return sorted(keep)


def select_views(series: Sequence[ViewSeries], per_party: int | None) -> Selection:
    """Up to ``per_party`` views of one party (more when ``must_attack`` needs more); all if None."""
    if per_party is None or len(series) <= per_party:
        return Selection(list(series), [])
    keep = set(must_attack(series))
    rest = [i for i in range(len(series)) if i not in keep]
    room = max(per_party - len(keep), 0)
    if room and rest:
        # evenly spaced over the remaining layers, so every depth of the network is represented
        picks = np.unique(np.round(np.linspace(0, len(rest) - 1, min(room, len(rest)))).astype(int))
        keep |= {rest[p] for p in picks}
    return Selection([s for i, s in enumerate(series) if i in keep],
                     [s for i, s in enumerate(series) if i not in keep])
