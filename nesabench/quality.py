"""Task accuracy and fidelity of outputs to a reference: the one place they are computed.

The harness scores every technique with ``measure_quality``; techniques that report extra quality
numbers of their own (a polynomial model, a circuit, a DP model on the whole test split) use
``accuracy`` and ``agreement`` so that every number means the same thing. Both take torch tensors
or numpy arrays of scores (``(..., classes)``, top-1 taken along the last axis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Quality:
    accuracy: float
    plaintext_accuracy: float
    accuracy_loss: float  # plaintext accuracy minus this technique's, same samples
    fidelity_agreement: float  # fraction of samples whose top-1 class matches plaintext
    fidelity_max_abs_err: float  # max |output - plaintext output| over all outputs
    fidelity_cosine: float  # mean cosine similarity of output vectors to plaintext's
    eval_samples: int


def _as_tensor(values: Any) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach()
    return torch.as_tensor(np.asarray(values))


def top1(scores: Any) -> torch.Tensor:
    """Predicted class per sample: the argmax over the last axis."""
    return _as_tensor(scores).argmax(-1)


def accuracy(scores: Any, labels: Any) -> float:
    """Fraction of samples whose top-1 class is the label."""
    return float((top1(scores) == _as_tensor(labels)).double().mean())


def agreement(scores: Any, reference: Any) -> float:
    """Fraction of samples whose top-1 class matches the reference's top-1 class."""
    return float((top1(scores) == top1(reference)).double().mean())


@torch.no_grad()
def model_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``model`` (in eval mode) on (x, y)."""
    return accuracy(model.eval()(x), y)


def measure_quality(outputs: torch.Tensor, reference: torch.Tensor, labels: torch.Tensor) -> Quality:
    if outputs.shape != reference.shape:
        raise ValueError(
            f"technique outputs have shape {tuple(outputs.shape)}, plaintext outputs "
            f"{tuple(reference.shape)}: a pipeline must return outputs comparable with the model's"
        )
    outputs, reference = outputs.detach().double(), reference.detach().double()
    acc, ref_acc = accuracy(outputs, labels), accuracy(reference, labels)
    cos = torch.nn.functional.cosine_similarity(outputs.flatten(1), reference.flatten(1), dim=1)
    return Quality(
        accuracy=acc,
        plaintext_accuracy=ref_acc,
        accuracy_loss=ref_acc - acc,
        fidelity_agreement=agreement(outputs, reference),
        fidelity_max_abs_err=float((outputs - reference).abs().max()),
        fidelity_cosine=float(cos.mean()),
        eval_samples=len(labels),
    )
