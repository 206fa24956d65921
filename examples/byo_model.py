"""Bring your own model: any importable nn.Module class (or factory) runs through every technique.

    PYTHONPATH=examples .venv/bin/nesabench workload=mlp_cancer workload.model._target_=byo_model.WideMLP

The workload offers keyword arguments (mlp_cancer: in_features, num_classes, seed); a factory gets
those its signature names, or all of them if it takes **kwargs, and may ignore them entirely.
"""

from __future__ import annotations

import torch
from torch import nn


class WideMLP(nn.Module):
    """Takes the workload's keyword arguments: two hidden layers of 64 with tanh."""

    def __init__(self, in_features: int, num_classes: int, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, width), nn.Tanh(),
            nn.Linear(width, width), nn.Tanh(),
            nn.Linear(width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FixedCancerNet(nn.Module):
    """Ignores the workload's arguments: its shapes are fixed for mlp_cancer (30 features, 2 classes)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(30, 8), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))
