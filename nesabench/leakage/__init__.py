"""Attacks on what each untrusted party saw. ``evaluate_leakage`` is what the harness calls."""

from __future__ import annotations

from typing import Any

import torch

from nesabench.pipeline import PartyView


def evaluate_leakage(
    workload: Any, pipeline: Any, inputs: torch.Tensor, views: list[list[PartyView]]
) -> dict[str, Any]:
    """Flat record keys summarizing per-party leakage (filled in by the leakage suite)."""
    return {}
