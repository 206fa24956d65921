"""Turn PartyViews into per-sample feature matrices the generic probes can fit on.

Views are batch-first per sample (see ``nesabench.pipeline.PartyView``); a payload without a
per-sample leading dimension (one packed ciphertext for the batch) is repeated for every sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from nesabench.pipeline import PartyView

#: Bytes kept from each serialized payload as features (plus its length).
BYTES_PREFIX = 512
#: Feature vectors wider than this are reduced by a fixed Gaussian random projection.
MAX_FEATURES = 2048
BYTES_KINDS = ("ciphertext", "sealed_blob", "proof")


@dataclass
class ViewSeries:
    """All samples of one (party, kind, layer) view, stacked across infer calls."""

    party: str
    kind: str
    layer: str
    samples: list[Any]
    nbytes: list[int]
    meta: dict[str, Any] = field(default_factory=dict)
    #: Per-sample seconds, when every view gave ``meta["seconds_per_sample"]`` (timing probe).
    seconds: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.layer}"


def to_numpy(payload: Any) -> np.ndarray:
    if isinstance(payload, torch.Tensor):
        return payload.detach().cpu().numpy()
    return np.asarray(payload)


def per_sample(view: PartyView, batch: int) -> list[Any]:
    """Split one view's payload into ``batch`` per-sample items."""
    p = view.payload
    if view.kind in BYTES_KINDS or isinstance(p, (bytes, bytearray)):
        if isinstance(p, (bytes, bytearray, memoryview)):
            return [bytes(p)] * batch
        items = [bytes(b) for b in p]
        return items if len(items) == batch else [b"".join(items)] * batch
    if view.kind == "access_trace":
        items = [np.asarray(to_numpy(t), dtype=np.int64).ravel() for t in p]
        if len(items) != batch:
            joined = np.concatenate(items) if items else np.zeros(0, np.int64)
            return [joined] * batch
        return items
    arr = to_numpy(p)
    if arr.ndim >= 1 and arr.shape[0] == batch:
        return list(arr)
    return [arr] * batch


def collect(inputs_per_call: Sequence[int], views: Sequence[Sequence[PartyView]]) -> list[ViewSeries]:
    """Group views by (party, kind, layer, occurrence) and stack their samples over calls."""
    series: dict[tuple[str, str, str, int], ViewSeries] = {}
    for batch, call in zip(inputs_per_call, views, strict=True):
        seen: dict[tuple[str, str, str], int] = {}
        for v in call:
            base = (v.party, v.kind, v.layer)
            occ = seen.get(base, 0)
            seen[base] = occ + 1
            key = (*base, occ)
            s = series.setdefault(key, ViewSeries(v.party, v.kind, v.layer, [], [], dict(v.meta)))
            items = per_sample(v, batch)
            s.samples.extend(items)
            if v.kind in BYTES_KINDS and isinstance(v.payload, (list, tuple)) and len(v.payload) == batch:
                s.nbytes.extend(len(b) for b in items)  # one message per sample: its own size
            else:
                s.nbytes.extend([int(v.nbytes) // max(1, batch)] * batch)
            timing = v.meta.get("seconds_per_sample")
            if timing is not None:
                s.seconds.extend(np.broadcast_to(np.asarray(timing, dtype=np.float64), (batch,)).tolist())
    return list(series.values())


def signed_float(arr: np.ndarray) -> np.ndarray:
    """Numbers as float64; uint64 ring elements are read as two's-complement int64."""
    if arr.dtype == np.uint64:
        arr = arr.view(np.int64)
    return arr.astype(np.float64)


def bytes_features(items: Sequence[bytes]) -> np.ndarray:
    """Fixed-length uint8 prefix plus the length: what a probe can read off serialized bytes."""
    out = np.zeros((len(items), BYTES_PREFIX + 1), dtype=np.float64)
    for i, b in enumerate(items):
        head = np.frombuffer(b[:BYTES_PREFIX], dtype=np.uint8)
        out[i, : len(head)] = head
        out[i, -1] = len(b)
    return out


def trace_features(items: Sequence[np.ndarray], n_pages: int | None = None) -> np.ndarray:
    """Page-access histogram per sample (order-free lower bound on what a trace reveals)."""
    n_pages = n_pages or int(max((t.max() for t in items if len(t)), default=0)) + 1
    out = np.zeros((len(items), n_pages), dtype=np.float64)
    for i, t in enumerate(items):
        t = t[(t >= 0) & (t < n_pages)]
        np.add.at(out[i], t, 1.0)
    return out


#: Projection matrices kept between views (drawing one for a 16 x 1536 view costs seconds, and every
#: view of that width gets the same one), up to this many bytes in all.
PROJECTION_CACHE_BYTES = 640 * 2**20
_projections: dict[tuple[int, int], np.ndarray] = {}


def projection_matrix(width: int, seed: int = 0) -> np.ndarray:
    """The fixed (width, MAX_FEATURES) Gaussian matrix for ``seed``: drawn once, then reused."""
    key = (width, seed)
    proj = _projections.get(key)
    if proj is None:
        rng = np.random.default_rng(seed)
        proj = rng.standard_normal((width, MAX_FEATURES)) / np.sqrt(MAX_FEATURES)
        if proj.nbytes <= PROJECTION_CACHE_BYTES:
            while sum(m.nbytes for m in _projections.values()) + proj.nbytes > PROJECTION_CACHE_BYTES:
                _projections.pop(next(iter(_projections)))  # oldest first
            _projections[key] = proj
    return proj


def project(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fixed Gaussian random projection to MAX_FEATURES columns (distances kept, JL)."""
    if features.shape[1] <= MAX_FEATURES:
        return features
    return features @ projection_matrix(features.shape[1], seed)


def features(series: ViewSeries) -> np.ndarray:
    """One float row per sample for any view kind."""
    if series.kind in BYTES_KINDS:
        return bytes_features(series.samples)
    if series.kind == "access_trace":
        return trace_features(series.samples)
    rows = [signed_float(np.asarray(s)).ravel() for s in series.samples]
    width = max((len(r) for r in rows), default=0)
    out = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return project(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0))
