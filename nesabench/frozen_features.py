"""Frozen feature extractors: run a model's frozen prefix once per sample, train only its head.

A model whose first part is frozen (a pretrained encoder under a trainable linear head, say) opts
in by exposing ``frozen_features(x) -> Tensor`` and a ``head`` module with
``forward(x) == head(frozen_features(x))``, every parameter outside ``head`` frozen
(``requires_grad`` False). Training the head on features computed once is then the same
optimization as training the whole model end to end, minus the repeated encoder forwards: how
DP fine-tuning of a last layer ("linear probing" under DP) is done in the literature. Features are
computed with the model in eval mode (no dropout), the standard for a frozen extractor.

``FeatureCache`` keeps features per sample in memory (keyed by the prefix's weights and the
sample's bytes), so shadows trained on other subsets of the same data reuse them, and optionally per
data set on disk.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nesabench.atomic import atomic_write_bytes
from nesabench.confighash import data_digest

log = logging.getLogger(__name__)

#: Samples per forward pass of the frozen prefix.
FEATURE_BATCH = 256
#: Per-sample features kept in memory, at most (the cache is cleared when it would grow past this).
MAX_CACHED_ROWS = 200_000


@dataclass(frozen=True)
class FrozenSplit:
    """A model cut into a frozen feature extractor and the trainable head on top of it."""

    model: nn.Module
    features: Callable[[torch.Tensor], torch.Tensor]
    head: nn.Module
    prefix_digest: str  # content hash of every parameter and buffer outside the head


def frozen_split(model: nn.Module) -> FrozenSplit | None:
    """The model's frozen prefix and head, or None if it does not declare one or its prefix trains."""
    features, head = getattr(model, "frozen_features", None), getattr(model, "head", None)
    if not callable(features) or not isinstance(head, nn.Module):
        return None
    head_ids = {id(t) for t in [*head.parameters(), *head.buffers()]}
    if not any(p.requires_grad for p in head.parameters()):
        return None
    if any(p.requires_grad and id(p) not in head_ids for p in model.parameters()):
        return None  # part of the "prefix" trains: it is not a frozen feature extractor
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if id(t) not in head_ids:
            h.update(name.encode() + str(t.dtype).encode() + str(tuple(t.shape)).encode())
            h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return FrozenSplit(model=model, features=features, head=head, prefix_digest=h.hexdigest()[:16])


class FeatureCache:
    """Features of frozen prefixes: per sample in memory, and per data set on disk if given a folder."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._rows: dict[tuple[str, bytes], torch.Tensor] = {}
        self.samples_computed = 0  # samples that went through a frozen prefix (the rest were cached)

    def features(self, split: FrozenSplit, x: torch.Tensor) -> torch.Tensor:
        """``split.features(x)`` in eval mode, without gradients; each sample computed at most once."""
        path = None
        if self.directory is not None:
            path = self.directory / f"{split.prefix_digest}-{data_digest(x)}.pt"
            if path.exists():
                return torch.load(path, weights_only=True)
        keys = [(split.prefix_digest, row.numpy().tobytes()) for row in x.detach().cpu()]
        missing = [i for i, k in enumerate(keys) if k not in self._rows]
        if missing:
            if len(self._rows) + len(missing) > MAX_CACHED_ROWS:
                self._rows.clear()
            computed = self._compute(split, x[missing])
            self.samples_computed += len(missing)
            self._rows.update({keys[i]: computed[j] for j, i in enumerate(missing)})
        out = torch.stack([self._rows[k] for k in keys]) if keys else self._compute(split, x)
        if path is not None:
            buf = io.BytesIO()
            torch.save(out, buf)
            atomic_write_bytes(path, buf.getvalue())
        return out

    @staticmethod
    def _compute(split: FrozenSplit, x: torch.Tensor) -> torch.Tensor:
        was_training = split.model.training
        split.model.eval()
        try:
            with torch.no_grad():
                return torch.cat([split.features(x[i : i + FEATURE_BATCH]).detach()
                                  for i in range(0, max(len(x), 1), FEATURE_BATCH)])
        finally:
            split.model.train(was_training)
