"""Task accuracy and fidelity of a technique's outputs to the plaintext model's."""

from __future__ import annotations

from dataclasses import dataclass

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


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    return float((outputs.argmax(-1) == labels).float().mean())


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
        fidelity_agreement=float((outputs.argmax(-1) == reference.argmax(-1)).double().mean()),
        fidelity_max_abs_err=float((outputs - reference).abs().max()),
        fidelity_cosine=float(cos.mean()),
        eval_samples=len(labels),
    )
