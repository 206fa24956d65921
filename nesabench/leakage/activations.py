"""The public model's own activations at a named layer: the attacker's reference for permuted views."""

from __future__ import annotations

import contextlib

import numpy as np
import torch


class _Reached(Exception):
    """Stops the forward pass once the hooked layer has run."""


def find_module(model: torch.nn.Module, layer: str) -> torch.nn.Module | None:
    return dict(model.named_modules()).get(layer)


@torch.no_grad()
def layer_activations(model: torch.nn.Module, layer: str, x: torch.Tensor,
                      batch: int = 64) -> np.ndarray | None:
    """Output of module ``layer`` (first element if it returns a tuple) for inputs ``x``; None if absent."""
    module = find_module(model, layer)
    if module is None:
        return None
    captured: list[torch.Tensor] = []

    def hook(_m, _inp, out):
        captured.append((out[0] if isinstance(out, tuple) else out).detach().float().cpu())
        raise _Reached  # the rest of the forward pass is not needed

    handle = module.register_forward_hook(hook)
    try:
        for i in range(0, len(x), batch):
            with contextlib.suppress(_Reached):
                model(x[i : i + batch])
    finally:
        handle.remove()
    return torch.cat(captured).numpy() if captured else None
