"""EE for token models: the built-in TinyTransformer and the Hugging Face BertModel inside MiniLM.

The node's model takes (ids or embeddings, position ids[, keep mask]): with a token-order
permutation the client sends the original position of every token, so position embeddings stay
correct; attention is equivariant to token order and mean pooling is invariant to it. One hidden
permutation covers the whole residual stream; each FFN gets its own intermediate permutation; each
attention block gets head and within-head permutations. Variant (e) rotates the residual stream of
a pre-LayerNorm model by a secret orthogonal matrix after folding LayerNorm into RMSNorm
(SliceGPT-style computational invariance); a post-LayerNorm model (BERT) cannot take it exactly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nesabench.hybrid.ee_fold import UnsupportedLayer, fold_attention, fold_linear, fold_vector, take
from nesabench.hybrid.keys import EEKey
from nesabench.workloads.minilm import MiniLMClassifier
from nesabench.workloads.models import TinyTransformer


def masked_mean(h: torch.Tensor, keep: torch.Tensor, eps: float) -> torch.Tensor:
    w = keep.unsqueeze(-1).to(h.dtype)
    return (h * w).sum(1) / w.sum(1).clamp_min(eps)


class TinyClientEmbed(nn.Module):
    """The client's half when it embeds locally: folded token and position tables, original order."""

    def __init__(self, embed: torch.Tensor, pos: torch.Tensor):
        super().__init__()
        self.embed, self.pos = embed, pos

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed[ids] + self.pos[: ids.shape[1]]


class PassEmbeddings(nn.Module):
    """Stands in for BertEmbeddings on the node when the client embeds: the states arrive embedded."""

    def forward(self, inputs_embeds: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        return inputs_embeds


class EETinyNode(nn.Module):
    """The node's TinyTransformer: the same layers, folded weights, positions given by the client.

    With ``client_embeds`` the node gets (embedded states, keep mask) and holds no embedding table;
    otherwise (permuted ids, position ids).
    """

    def __init__(self, model: TinyTransformer, client_embeds: bool):
        super().__init__()
        self.model, self.client_embeds = model, client_embeds

    def forward(self, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        m = self.model
        if self.client_embeds:
            h, keep = x, aux
        else:
            keep = x != m.pad_id
            h = m.embed(x) + m.pos[aux]
        for block in m.blocks:
            h = block(h, keep)
        return m.head(masked_mean(m.ln_f(h), keep, 1.0))


class EEMiniLMNode(nn.Module):
    """The node's MiniLM classifier: HF BertModel with folded weights, called with position ids."""

    def __init__(self, model: MiniLMClassifier, client_embeds: bool):
        super().__init__()
        self.model, self.client_embeds = model, client_embeds

    def forward(self, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        m = self.model
        if self.client_embeds:
            keep = aux
            out = m.encoder(inputs_embeds=x, attention_mask=keep.long())
        else:
            keep = x != m.pad_id
            out = m.encoder(input_ids=x, attention_mask=keep.long(), position_ids=aux)
        pooled = nn.functional.normalize(masked_mean(out.last_hidden_state, keep, 1e-9), dim=-1)
        return m.head(pooled)


def _rotate_tiny(m: TinyTransformer, key: EEKey) -> None:
    """Pre-LN computational invariance: centre every writer of the stream, fold LayerNorm's gamma and
    beta into the readers, swap LayerNorm for RMSNorm, then rotate the stream by a secret Q."""
    d = m.embed.embedding_dim
    q = key.rotation("hidden", d)
    m.double()
    with torch.no_grad():
        m.embed.weight.data -= m.embed.weight.data.mean(1, keepdim=True)
        m.pos.data -= m.pos.data.mean(1, keepdim=True)
        for b in m.blocks:
            for writer in (b.attn.o, b.ff2):
                writer.weight.data -= writer.weight.data.mean(0, keepdim=True)
                writer.bias.data -= writer.bias.data.mean()

        def fold_norm(ln: nn.LayerNorm, readers: list[nn.Linear]) -> nn.Module:
            for r in readers:
                r.bias.data = r.bias.data + r.weight.data @ ln.bias.data
                r.weight.data = r.weight.data * ln.weight.data[None, :]
            return nn.RMSNorm(d, eps=ln.eps, elementwise_affine=False)

        for b in m.blocks:
            b.ln1 = fold_norm(b.ln1, [b.attn.q, b.attn.k, b.attn.v])
            b.ln2 = fold_norm(b.ln2, [b.ff1])
        m.ln_f = fold_norm(m.ln_f, [m.head])
        m.embed.weight.data = m.embed.weight.data @ q
        m.pos.data = m.pos.data @ q
        for b in m.blocks:
            for r in (b.attn.q, b.attn.k, b.attn.v, b.ff1):
                r.weight.data = r.weight.data @ q
            for w in (b.attn.o, b.ff2):
                w.weight.data = q.T @ w.weight.data
                w.bias.data = q.T @ w.bias.data
        m.head.weight.data = m.head.weight.data @ q
    m.float()


@torch.no_grad()
def encrypt_tiny(model: TinyTransformer, key: EEKey, client_embeds: bool) -> nn.Module:
    m = copy.deepcopy(model).eval()
    d = m.embed.embedding_dim
    if key.rotate:
        _rotate_tiny(m, key)
        p = None
    else:
        p = key.perm("hidden", d, "hidden")
    vocab = None if client_embeds else key.perm("vocab", m.embed.num_embeddings, "vocab",
                                                fixed_ids=key.special_tokens)
    classes = key.perm("classes", m.head.out_features, "classes")
    m.embed.weight.data = take(take(m.embed.weight.data, vocab, 0), p, 1).contiguous()
    fold_vector([m.pos], p)
    for i, b in enumerate(m.blocks):
        fold_vector([getattr(b.ln1, "weight", None), getattr(b.ln1, "bias", None),
                     getattr(b.ln2, "weight", None), getattr(b.ln2, "bias", None)], p)
        fold_attention(b.attn.q, b.attn.k, b.attn.v, b.attn.o, b.attn.n_heads, key, f"blocks.{i}.attn", p, p)
        inter = key.perm(f"blocks.{i}.intermediate", b.ff1.out_features, "intermediate")
        fold_linear(b.ff1, p, inter)
        fold_linear(b.ff2, inter, p)
    fold_vector([getattr(m.ln_f, "weight", None), getattr(m.ln_f, "bias", None)], p)
    fold_linear(m.head, p, classes)
    if client_embeds:  # the client embeds locally: the tables stay with it, the node gets none
        key.client_tables["embed"] = TinyClientEmbed(m.embed.weight.data.clone(), m.pos.data.clone())
        m.embed.weight.data = m.embed.weight.data[:0].clone()
        m.pos.data = m.pos.data[:0].clone()
    key.layout = {"family": "tokens", "hidden": None if key.rotate else "hidden", "rotation": key.rotate,
                  "vocab": None if vocab is None else "vocab",
                  "classes": None if classes is None else "classes",
                  "client_embeds": client_embeds, "pad_id": model.pad_id}
    hidden_on = key.rotate or p is not None
    names = ([] if client_embeds else ["embed"]) + [f"blocks.{len(m.blocks) // 2}", "ln_f"]
    key.layout["activations"] = [(n, -1, hidden_on) for n in dict.fromkeys(names)]
    return EETinyNode(m, client_embeds).eval()


@torch.no_grad()
def encrypt_minilm(model: MiniLMClassifier, key: EEKey, client_embeds: bool) -> nn.Module:
    if key.rotate:
        raise UnsupportedLayer("BertModel", "encoder", "post-LayerNorm: the residual stream itself passes "
                               "through LayerNorm's mean subtraction and elementwise gamma/beta, which no "
                               "orthogonal rotation commutes with (SliceGPT/QuaRot need pre-norm)")
    m = copy.deepcopy(model).eval()
    bert = m.encoder
    d = bert.config.hidden_size
    n_heads = bert.config.num_attention_heads
    p = key.perm("hidden", d, "hidden")
    emb = bert.embeddings
    vocab = None if client_embeds else key.perm("vocab", emb.word_embeddings.num_embeddings, "vocab",
                                                fixed_ids=key.special_tokens)
    emb.word_embeddings.weight.data = take(take(emb.word_embeddings.weight.data, vocab, 0), p, 1).contiguous()
    for table in (emb.position_embeddings, emb.token_type_embeddings):
        fold_vector([table.weight], p)
    fold_vector([emb.LayerNorm.weight, emb.LayerNorm.bias], p)
    for i, layer in enumerate(bert.encoder.layer):
        att = layer.attention
        fold_attention(att.self.query, att.self.key, att.self.value, att.output.dense, n_heads, key,
                       f"encoder.encoder.layer.{i}.attention", p, p)
        fold_vector([att.output.LayerNorm.weight, att.output.LayerNorm.bias], p)
        inter = key.perm(f"encoder.encoder.layer.{i}.intermediate", layer.intermediate.dense.out_features,
                         "intermediate")
        fold_linear(layer.intermediate.dense, p, inter)
        fold_linear(layer.output.dense, inter, p)
        fold_vector([layer.output.LayerNorm.weight, layer.output.LayerNorm.bias], p)
    if getattr(bert, "pooler", None) is not None:
        fold_linear(bert.pooler.dense, p, p)
    classes = key.perm("classes", m.head.out_features, "classes")
    fold_linear(m.head, p, classes)
    if client_embeds:  # the client runs the (folded) embedding block; the node starts at layer 0
        key.client_tables["embed"] = emb
        bert.embeddings = PassEmbeddings()
    key.layout = {"family": "tokens", "hidden": "hidden", "rotation": False,
                  "vocab": None if vocab is None else "vocab",
                  "classes": None if classes is None else "classes",
                  "client_embeds": client_embeds, "pad_id": model.pad_id}
    n_layers = len(bert.encoder.layer)
    names = ([] if client_embeds else ["encoder.embeddings"]) + [
        f"encoder.encoder.layer.{n_layers // 2 - 1}", f"encoder.encoder.layer.{n_layers - 1}"]
    key.layout["activations"] = [(n, -1, p is not None) for n in names]
    return EEMiniLMNode(m, client_embeds).eval()
