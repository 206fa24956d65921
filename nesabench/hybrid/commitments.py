"""SHA-256 commitments to tensors, and consensus among replicas that committed to their outputs."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

import torch


def commit(tensors: Iterable[torch.Tensor]) -> str:
    """Hex SHA-256 of the tensors' bytes in order (what a node commits to before it is checked)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def transcript_commitment(io: list[tuple[torch.Tensor, torch.Tensor]]) -> str:
    """The commitment a node makes to its linear layers' (input, output) shares, in order."""
    return commit(t for pair in io for t in pair)


def consensus(digests: list[str]) -> tuple[bool, str]:
    """(all replicas agree, the majority digest)."""
    if not digests:
        raise ValueError("consensus needs at least one commitment")
    top, _ = Counter(digests).most_common(1)[0]
    return len(set(digests)) == 1, top
