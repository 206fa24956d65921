"""The workload's model with its activations replaced by a polynomial, fine-tuned in plaintext.

CKKS evaluates only additions and multiplications, so ReLU-like activations become a polynomial:
``x^2`` (TenSEAL's tutorials) or a degree-2 least-squares fit of the model's own activation over the
pre-activation range observed on the train split. The model is then fine-tuned with that
polynomial by the workload's own recipe and cached like any trained workload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from nesabench.workloads.models import ACTIVATIONS
from nesabench.workloads.workload import Workload

POLY_ACTIVATIONS = ("square", "fit2")
SQUARE = (0.0, 0.0, 1.0)
_ACTIVATION_TYPES = tuple(ACTIVATIONS.values())


class PolyActivation(nn.Module):
    """``c0 + c1 x + c2 x^2`` with fixed coefficients (not trained)."""

    def __init__(self, coeffs: tuple[float, float, float]):
        super().__init__()
        self.register_buffer("coeffs", torch.tensor(coeffs, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c0, c1, c2 = self.coeffs
        return c0 + c1 * x + c2 * x * x


@dataclass(frozen=True)
class PolyRecipe:
    """How the polynomial model is made: which polynomial and how it is fine-tuned."""

    activation: str = "fit2"
    finetune_epochs: int = 30
    finetune_lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.activation not in POLY_ACTIVATIONS:
            raise ValueError(
                f"activation={self.activation!r} is not accepted; accepted: {', '.join(POLY_ACTIVATIONS)}"
            )
        if self.finetune_epochs < 0 or self.finetune_lr <= 0:
            raise ValueError(
                f"finetune_epochs must be >= 0 and finetune_lr > 0, got {self.finetune_epochs}, "
                f"{self.finetune_lr}"
            )


def activation_ranges(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[float, float]]:
    """Min and max of the input to each activation module on ``x`` (the observed range)."""
    ranges: dict[str, tuple[float, float]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, _ACTIVATION_TYPES):

            def hook(_m: nn.Module, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor, name: str = name):
                ranges[name] = (float(inputs[0].min()), float(inputs[0].max()))

            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return ranges


def fit_degree2(act: nn.Module, lo: float, hi: float, points: int = 512) -> tuple[float, float, float]:
    """Least-squares degree-2 fit of ``act`` on a uniform grid over ``[lo, hi]``."""
    grid = torch.linspace(lo, hi, points, dtype=torch.float64)
    with torch.no_grad():
        target = act(grid.float()).double()
    design = torch.stack([torch.ones_like(grid), grid, grid * grid], dim=1)
    coeffs = torch.linalg.lstsq(design, target.unsqueeze(1)).solution.squeeze(1)
    return tuple(float(c) for c in coeffs)  # type: ignore[return-value]


def _swap(model: nn.Module, coeffs_for: Callable[[str, nn.Module], tuple[float, float, float]]) -> nn.Module:
    for name, module in list(model.named_modules()):
        if isinstance(module, _ACTIVATION_TYPES):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, PolyActivation(coeffs_for(name, module)))
    return model


def square_activations(model: nn.Module) -> nn.Module:
    """Every activation of ``model`` swapped (in place) for ``x^2``: the structure CKKS sees."""
    return _swap(model, lambda _name, _module: SQUARE)


def replace_activations(model: nn.Module, recipe: PolyRecipe, calibration: torch.Tensor) -> nn.Module:
    """Swap every activation module of ``model`` (in place) for the recipe's polynomial."""
    if recipe.activation == "square":
        return square_activations(model)
    ranges = activation_ranges(model, calibration)
    return _swap(model, lambda name, module: fit_degree2(module, *ranges[name]))


def count_poly_activations(model: nn.Module) -> int:
    return sum(isinstance(m, PolyActivation) for m in model.modules())


def polynomial_model(workload: Workload, recipe: PolyRecipe) -> nn.Module:
    """The workload's model with polynomial activations, fine-tuned once and cached on disk."""

    def make() -> nn.Module:
        model = replace_activations(workload.copy_model(), recipe, workload.calibration())
        return workload.train(model, desc=f"fine-tune {workload.name} with {recipe.activation}",
                              epochs=recipe.finetune_epochs, lr=recipe.finetune_lr)

    params = {"activation": recipe.activation, "epochs": recipe.finetune_epochs, "lr": recipe.finetune_lr}
    return workload.cached("he-poly", params, make).eval()
