"""Dataset factories. All offline: data comes from installed packages or is generated from the seed.

Each factory returns a ``Dataset``. ``model_kwargs`` are the keyword arguments the workload offers
a model factory (it passes only those the factory accepts; see the README's "Bring your own").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

InputKind = Literal["tabular", "image", "tokens"]


@dataclass
class Dataset:
    """Train and test splits plus what a model factory needs to know about them."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_kind: InputKind
    model_kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise ValueError(f"dataset {self.name!r}: inputs and labels differ in length")


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def breast_cancer(test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """scikit-learn's breast cancer table, standardized on the train split only."""
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    x_tr, x_te, y_tr, y_te = _split(raw.data, raw.target, test_fraction, seed)
    scaler = StandardScaler().fit(x_tr)
    return Dataset(
        name="breast_cancer",
        x_train=torch.tensor(scaler.transform(x_tr), dtype=torch.float32),
        y_train=torch.tensor(y_tr, dtype=torch.long),
        x_test=torch.tensor(scaler.transform(x_te), dtype=torch.float32),
        y_test=torch.tensor(y_te, dtype=torch.long),
        num_classes=2,
        input_kind="tabular",
        model_kwargs={"in_features": raw.data.shape[1], "num_classes": 2},
        meta={"feature_names": list(raw.feature_names)},
    )


#: scikit-learn's digits are 4-bit grey levels 0..16.
DIGITS_MAX_PIXEL = 16.0


def digits(test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits as 1x8x8 images scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = (raw.images / DIGITS_MAX_PIXEL).astype(np.float32)[:, None, :, :]
    x_tr, x_te, y_tr, y_te = _split(x, raw.target, test_fraction, seed)
    return Dataset(
        name="digits",
        x_train=torch.from_numpy(x_tr),
        y_train=torch.tensor(y_tr, dtype=torch.long),
        x_test=torch.from_numpy(x_te),
        y_test=torch.tensor(y_te, dtype=torch.long),
        num_classes=10,
        input_kind="image",
        model_kwargs={"in_channels": 1, "image_size": 8, "num_classes": 10},
        meta={"data_range": 1.0},
    )


def majority_sequences(
    n_samples: int = 2000,
    vocab_size: int = 32,
    seq_len: int = 16,
    num_classes: int = 3,
    test_fraction: float = 0.3,
    seed: int = 0,
) -> Dataset:
    """Synthetic sequences labelled by which of the marker tokens 1..num_classes occurs most.

    Token 0 is padding and never occurs; tokens above num_classes are filler. Labels are balanced
    and every sequence has a unique winner, so the task is exactly learnable.
    """
    if vocab_size <= num_classes + 1:
        raise ValueError(f"vocab_size ({vocab_size}) must exceed num_classes + 1 ({num_classes + 1})")
    rng = np.random.default_rng(seed)
    x = rng.integers(num_classes + 1, vocab_size, size=(n_samples, seq_len))
    y = np.arange(n_samples) % num_classes
    for i in range(n_samples):
        counts = rng.multinomial(seq_len // 2 - 1, np.ones(num_classes) / num_classes)
        winner = int(y[i])
        counts[winner] = counts.max() + 1  # unique maximum
        tokens = np.repeat(np.arange(1, num_classes + 1), counts)[: seq_len]
        pos = rng.choice(seq_len, size=len(tokens), replace=False)
        x[i, pos] = tokens
    x_tr, x_te, y_tr, y_te = _split(x, y, test_fraction, seed)
    return Dataset(
        name="majority_sequences",
        x_train=torch.tensor(x_tr, dtype=torch.long),
        y_train=torch.tensor(y_tr, dtype=torch.long),
        x_test=torch.tensor(x_te, dtype=torch.long),
        y_test=torch.tensor(y_te, dtype=torch.long),
        num_classes=num_classes,
        input_kind="tokens",
        model_kwargs={
            "vocab_size": vocab_size,
            "seq_len": seq_len,
            "num_classes": num_classes,
            "pad_id": 0,
        },
        meta={"pad_id": 0},
    )
