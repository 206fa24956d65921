"""Nesa's equivariant encryption (EE) as a technique: one untrusted node runs a key-folded model.

The client draws the key (``nesabench.hybrid.keys``), the model owner folds it into the weights
once at setup (``encrypt_model``) and sends them to the node; per query the client transforms the
input, the node runs the folded model, and the client inverts the output -- all inside the timed
``infer``. Variant (d) draws a fresh key per query, so the fold and the re-sent weights are part of
every query's latency and bytes. The node's views: what it receives, the activations it computes
(permuted, with the permuted axis in ``meta``), its output, and the weights it holds.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from nesabench.hybrid.ee import UnsupportedLayer, decrypt_output, encrypt_input, encrypt_model, run_node
from nesabench.hybrid.keys import EEKey, draw_key, parts_for
from nesabench.pipeline import PartyView, Unsupported
from nesabench.workloads.workload import Workload

#: The folded model must reproduce the plaintext outputs to this relative error, or setup fails.
EXACT_RTOL = 1e-4
#: In per-query-key variants, the weights view keeps only tensors up to this size for later queries
#: (the attack needs the normalization vectors; the byte count is always the whole model).
PER_QUERY_KEEP_NUMEL = 4096


def special_token_ids(workload: Workload) -> tuple[int, ...]:
    """Token ids that stay fixed under the vocabulary key: padding always (the node's attention mask
    is read off it), plus the tokenizer's special tokens (CLS/SEP/UNK/MASK) for the MiniLM workload."""
    ds = workload.dataset
    ids = {int(ds.meta.get("pad_id", 0))}
    if ds.meta.get("public_model"):
        from nesabench.workloads.minilm import tokenizer

        ids |= set(tokenizer().all_special_ids)
    return tuple(sorted(ids))


def weights_payload(node: nn.Module, keep_numel: int | None = None) -> tuple[dict[str, torch.Tensor], int]:
    """The node's parameters and buffers by their names in the public model, and their total bytes."""
    inner = getattr(node, "model", node)
    state = {k: v.detach() for k, v in inner.state_dict().items() if v.numel() and v.is_floating_point()}
    nbytes = sum(v.element_size() * v.numel() for v in state.values())
    if keep_numel is not None:
        state = {k: v for k, v in state.items() if v.numel() <= keep_numel}
    return state, nbytes


class NesaEEPipeline:
    """Equivariant encryption with a secret key of permutations (and, in variant e, a rotation).

    ``variant``: a..e preset (see ``nesabench.hybrid.keys.VARIANTS``); ``key``: per-part overrides
    ``{part: fixed|per_query|off}``; ``client_embeds``: token inputs are embedded by the client;
    ``special_tokens_fixed``: CLS/SEP/... keep their ids (padding always does).
    """

    def __init__(self, variant: str = "b", key: dict[str, str] | None = None, client_embeds: bool = False,
                 special_tokens_fixed: bool = True) -> None:
        self.variant = variant
        self.key_overrides = dict(key or {})
        self.parts = parts_for(variant, self.key_overrides)  # bad names fail at construction
        self.client_embeds = bool(client_embeds)
        self.special_tokens_fixed = bool(special_tokens_fixed)
        self._key: EEKey | None = None
        self._node: nn.Module | None = None
        self._model: nn.Module | None = None
        self._example: torch.Tensor | None = None
        self._weights: dict[str, torch.Tensor] = {}
        self._weights_nbytes = 0
        self._fold_s = 0.0
        self._captured: dict[str, torch.Tensor] = {}
        self._hooks: list[Any] = []
        self._last: list[PartyView] = []
        self._first_call = True

    @property
    def refold_per_query(self) -> bool:
        return any(mode == "per_query" for part, mode in self.parts.items() if part != "tokens")

    def check(self, workload: Workload) -> None:
        tokens = workload.dataset.input_kind == "tokens"
        on = [p for p, m in self.parts.items() if m != "off"]
        if not tokens and set(on) <= {"vocab", "tokens"}:
            raise Unsupported(f"variant {self.variant} permutes only the vocabulary/token order; "
                              f"{workload.name} has no token inputs")
        if not tokens and self.parts.get("tokens") != "off":
            raise Unsupported(f"a token-order permutation needs token inputs; {workload.name} has "
                              f"{workload.dataset.input_kind} inputs")

    def _fold(self, workload_model: nn.Module) -> None:
        t0 = time.perf_counter()
        try:
            self._node = encrypt_model(workload_model, self._key, example=self._example,
                                       client_embeds=self.client_embeds)
        except UnsupportedLayer as err:
            raise Unsupported(str(err)) from err
        self._fold_s = time.perf_counter() - t0
        for h in self._hooks:
            h.remove()
        self._hooks = []
        inner = getattr(self._node, "model", self._node)
        for name, _axis, _on in self._key.layout.get("activations", []):
            module = inner.get_submodule(name)

            def hook(_m: nn.Module, _i: Any, out: Any, name: str = name) -> None:
                self._captured[name] = (out[0] if isinstance(out, tuple) else out).detach()

            self._hooks.append(module.register_forward_hook(hook))

    def prepare(self, workload: Workload) -> None:
        self.check(workload)
        specials = special_token_ids(workload)
        if not self.special_tokens_fixed:
            specials = (int(workload.dataset.meta.get("pad_id", 0)),)
        self._key = draw_key(self.variant, self.key_overrides, special_tokens=specials)
        self._model = workload.copy_model()
        self._example = workload.calibration(4)
        self._fold(self._model)
        with torch.no_grad():
            x = workload.calibration(8)
            ref = self._model(x)
            got = decrypt_output(run_node(self._node, encrypt_input(x, self._key)), self._key)
        err = float((got - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
        if err > EXACT_RTOL:
            raise RuntimeError(f"the EE-folded model is not exact on calibration inputs (relative error "
                               f"{err:.2e} > {EXACT_RTOL}); the model holds an operation the fold mishandles")
        self._weights, self._weights_nbytes = weights_payload(self._node)
        self._first_call = True

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        resent = self.refold_per_query
        if resent:  # fresh hidden key: re-fold and re-send the whole model for this query
            self._key.refresh()
            self._fold(self._model)
            keep = None if self._first_call else PER_QUERY_KEEP_NUMEL
            self._weights, self._weights_nbytes = weights_payload(self._node, keep)
        self._captured = {}
        enc = encrypt_input(x, self._key)
        y = run_node(self._node, enc)
        out = decrypt_output(y, self._key)
        self._last = self._views(enc, y, resent)
        self._first_call = False
        return out

    def _views(self, enc: Any, y: torch.Tensor, resent: bool) -> list[PartyView]:
        layout = self._key.layout
        views: list[PartyView] = []
        enc = enc if isinstance(enc, tuple) else (enc,)
        hidden_on = self._key.rotate or self._key.on("hidden") or self._key.on("channels")
        if layout["family"] == "graph":
            spec = layout["input"]
            perm = self._key._perms.get(spec["perm"] or "")
            permuted = perm is not None and len(perm) > 1  # one input channel: nothing to permute
            kind = "permuted_activation" if permuted else "plain_input"
            axis = spec["axis"] - enc[0].dim() if permuted else None
            views.append(PartyView("node", kind, "input", enc[0], meta={"permuted_axis": axis}))
        elif layout["client_embeds"]:
            kind = "permuted_activation" if hidden_on else "activation"
            tokens = self._key.mode("tokens")
            views.append(PartyView("node", kind, "input_embeds", enc[0],
                                   meta={"permuted_axis": -1, "token_order": tokens}))
            views.append(PartyView("node", "activation", "keep_mask", enc[1]))
        else:
            vocab = layout["vocab"] is not None
            kind = "permuted_activation" if vocab else "plain_input"
            meta = {"permuted_axis": -1, "value_permutation": "vocab" if vocab else "none",
                    "token_order": self._key.mode("tokens")}
            views.append(PartyView("node", kind, "input_ids", enc[0], meta=meta))
            views.append(PartyView("node", "activation", "position_ids", enc[1],
                                   meta={"content": "original position of each token, in the clear"}))
        for name, axis, on in layout.get("activations", []):
            if name in self._captured:
                views.append(PartyView("node", "permuted_activation" if on else "activation", name,
                                       self._captured[name], received=False,
                                       meta={"permuted_axis": axis, "token_order": self._key.mode("tokens"),
                                             "rotated": bool(self._key.rotate)}))
        views.append(PartyView("node", "output", "output", y.detach(), received=False,
                               meta={"class_permutation": self._key.mode("classes")}))
        views.append(PartyView("node", "weights", "model", self._weights, nbytes=self._weights_nbytes,
                               received=resent,
                               meta={"sent": "per_query" if resent else "setup", "per_query_key": resent,
                                     "client_embeds": self.client_embeds}))
        return views

    def views(self) -> list[PartyView]:
        return list(self._last)

    def metrics(self) -> dict[str, Any]:
        key = self._key.describe() if self._key is not None else {}
        return {
            **key,
            "ee.variant": self.variant,
            "ee.client_embeds": self.client_embeds,
            "ee.fold_s": self._fold_s,
            "ee.weights_resent_per_query": self.refold_per_query,
            "setup_bytes_to_nodes": 0 if self.refold_per_query else self._weights_nbytes,
        }
