"""The default training recipe: deterministic minibatch Adam on cross-entropy."""

from __future__ import annotations

import logging

import torch
from torch import nn

from nesabench.progress import progress
from nesabench.workloads.data import Dataset

log = logging.getLogger(__name__)


def train_classifier(
    model: nn.Module,
    dataset: Dataset,
    *,
    seed: int,
    epochs: int = 50,
    lr: float = 1e-2,
    batch_size: int = 32,
    weight_decay: float = 0.0,
    desc: str = "training",
) -> nn.Module:
    """Train the parameters that require grad; the shuffling order comes from ``seed``."""
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(
            f"training needs epochs >= 0, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}"
        )
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return model.eval()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    x, y = dataset.x_train, dataset.y_train
    model.train()
    bar = progress(range(epochs), desc=desc, unit="epoch")
    for _ in bar:
        total = 0.0
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        bar.set_postfix(loss=f"{total / len(x):.4f}")
    return model.eval()
