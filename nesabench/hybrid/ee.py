"""Equivariant encryption: fold a secret key into a model so a node computes the exact function on
transformed data; the client transforms inputs (``encrypt_input``) and inverts outputs.

``encrypt_model`` picks the layer family by model type: the token models (TinyTransformer, the
MiniLM classifier around Hugging Face's BertModel) have their own folding (``ee_transformer``);
every other model is traced with torch.fx and folded layer by layer (``ee_graph``). A layer EE
cannot fold raises ``UnsupportedLayer`` naming its type and its path in the model.
"""

from __future__ import annotations

import torch
from torch import nn

from nesabench.hybrid.ee_fold import UnsupportedLayer, expand, inverse
from nesabench.hybrid.ee_graph import encrypt_graph_model
from nesabench.hybrid.ee_transformer import encrypt_minilm, encrypt_tiny
from nesabench.hybrid.keys import EEKey
from nesabench.workloads.minilm import MiniLMClassifier
from nesabench.workloads.models import TinyTransformer

__all__ = ["UnsupportedLayer", "decrypt_output", "encrypt_input", "encrypt_model"]

NodeInput = torch.Tensor | tuple[torch.Tensor, ...]


def encrypt_model(model: nn.Module, key: EEKey, example: torch.Tensor | None = None,
                  client_embeds: bool = False) -> nn.Module:
    """A transformed deep copy of ``model`` for the node; ``model`` itself is left untouched.

    ``example`` (an input batch) lets the graph tracer read shapes; without it the shape is guessed
    from the first layer. ``client_embeds`` (token models): the client embeds locally and the node
    gets permuted hidden states instead of permuted ids.
    """
    if isinstance(model, MiniLMClassifier):
        return encrypt_minilm(model, key, client_embeds)
    if isinstance(model, TinyTransformer):
        return encrypt_tiny(model, key, client_embeds)
    return encrypt_graph_model(model, key, example)


def _token_order(key: EEKey, t: int) -> torch.Tensor | None:
    if key.per_query("tokens"):
        key.forget("tokens")
    return key.perm("tokens", t, "tokens")


def _perm(key: EEKey, name: str | None) -> torch.Tensor | None:
    return None if name is None else key._perms.get(name)


def encrypt_input(x: torch.Tensor, key: EEKey) -> NodeInput:
    """What the client sends the node for input batch ``x`` (call after ``encrypt_model``).

    Graph models get one tensor; token models get (ids, position ids) -- positions travel with the
    tokens they belong to, in the clear -- or, when the client embeds (positions added before the
    token order is permuted), (embedded hidden states, keep mask).
    """
    layout = key.layout
    if not layout:
        raise ValueError("encrypt_input needs a key that encrypt_model has folded into a model")
    if layout["family"] == "graph":
        spec = layout["input"]
        p = _perm(key, spec["perm"])
        if p is None:
            return x
        if spec["ids"]:
            return inverse(p)[x]
        return x.index_select(spec["axis"], expand(p, spec["block"]))
    b, t = x.shape
    tau = _token_order(key, t)
    pos = torch.arange(t).expand(b, t) if tau is None else tau.expand(b, t)
    reorder = (lambda z: z) if tau is None else (lambda z: z[:, tau])
    if layout["client_embeds"]:
        with torch.no_grad():  # the client's folded embedding block: already in the node's hidden basis
            h = key.client_tables["embed"](x)
        return reorder(h).contiguous(), reorder(x != layout["pad_id"]).contiguous()
    vocab = _perm(key, layout["vocab"])
    ids = x if vocab is None else inverse(vocab)[x]
    return reorder(ids).contiguous(), pos.contiguous()


def decrypt_output(y: torch.Tensor, key: EEKey) -> torch.Tensor:
    """The plaintext model's output from the node's (class-permuted) output."""
    layout = key.layout
    name = layout["output"]["perm"] if layout.get("family") == "graph" else layout.get("classes")
    q = _perm(key, name)
    if q is None:
        return y
    out = torch.empty_like(y)
    out[..., q] = y
    return out


def run_node(node: nn.Module, enc: NodeInput) -> torch.Tensor:
    """Call the node's model on what ``encrypt_input`` produced."""
    return node(*enc) if isinstance(enc, tuple) else node(enc)
