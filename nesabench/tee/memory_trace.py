"""The enclave's memory at page granularity, and the pages each inference touches.

Layout: the runtime's pages first, then every parameter and buffer (each starting on a page, as a
large-tensor allocator places them), then the activation area. Forward hooks measure what really
runs: the order modules execute in, the rows each embedding lookup reads (token ids -> pages: the
controlled channel), and the bytes of every leaf module's output (activations). From that, one
page-access sequence per call, which ``epc`` plays against the secure memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


def _pages(first: int, nbytes: int, page_bytes: int) -> np.ndarray:
    return np.arange(first, first + max(1, -(-nbytes // page_bytes)), dtype=np.int64)


@dataclass
class CallTrace:
    """What one inference call touched that depends on its input."""

    batch: int
    lookups: dict[str, np.ndarray] = field(default_factory=dict)  # embedding module -> (batch, L) row ids
    activation_bytes: int = 0


class MemoryTracer:
    """Hooks on the model inside the enclave; records one ``CallTrace`` per forward."""

    def __init__(self, model: nn.Module, page_bytes: int, runtime_bytes: int) -> None:
        self.page_bytes = page_bytes
        self.runtime_pages = (_pages(0, runtime_bytes, page_bytes) if runtime_bytes > 0
                              else np.zeros(0, np.int64))
        self.weight_bytes = 0
        next_page = len(self.runtime_pages)
        self._tensor_pages: dict[int, tuple[int, int]] = {}  # data_ptr -> (first page, nbytes)
        for t in [*model.parameters(), *model.buffers()]:
            if t.data_ptr() in self._tensor_pages or t.numel() == 0:
                continue
            nbytes = t.element_size() * t.numel()
            self._tensor_pages[t.data_ptr()] = (next_page, nbytes)
            self.weight_bytes += nbytes
            next_page += len(_pages(0, nbytes, page_bytes))
        self.activation_first_page = next_page
        self.embeddings = {name: m for name, m in model.named_modules() if isinstance(m, nn.Embedding)}
        self._direct = {name: [t for t in [*m.parameters(recurse=False), *m.buffers(recurse=False)]
                               if t.numel()] for name, m in model.named_modules()}
        self.order: list[str] = []
        self._ordered = False
        self._current: CallTrace | None = None
        self._handles = []
        for name, m in model.named_modules():
            self._handles.append(m.register_forward_pre_hook(self._pre_hook(name)))
            if not any(True for _ in m.children()):
                self._handles.append(m.register_forward_hook(self._leaf_hook))

    # -- hooks (run inside the forward pass) ---------------------------------------------------
    def _pre_hook(self, name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            if self._current is None:
                return
            if not self._ordered:
                self.order.append(name)
            if name in self.embeddings and args:
                ids = args[0].detach().cpu().numpy().astype(np.int64)
                ids = ids.reshape(-1, ids.shape[-1]) if ids.ndim > 1 else ids.reshape(1, -1)
                if len(ids) != self._current.batch:
                    ids = np.broadcast_to(ids[:1], (self._current.batch, ids.shape[1]))
                self._current.lookups[name] = np.ascontiguousarray(ids)
        return hook

    def _leaf_hook(self, module: nn.Module, args: tuple, out) -> None:
        if self._current is None:
            return
        outs = out if isinstance(out, (tuple, list)) else (out,)
        self._current.activation_bytes += sum(o.element_size() * o.numel() for o in outs
                                               if isinstance(o, torch.Tensor))

    def start(self, batch: int) -> None:
        self._current = CallTrace(batch)

    def stop(self) -> CallTrace:
        """End a call. The first call fixes module order and activation bytes per sample; after it
        only the embedding hooks stay, so later forwards run at the model's own speed."""
        trace, self._current = self._current, None
        if not self._ordered:
            self._ordered = True
            self.order = list(dict.fromkeys(self.order))
            self._static = self._static_segments()
            self.activation_bytes_per_sample = trace.activation_bytes / max(1, trace.batch)
            self.remove()
            self._handles = [m.register_forward_pre_hook(self._pre_hook(n))
                             for n, m in self.embeddings.items()]
        else:
            trace.activation_bytes = round(self.activation_bytes_per_sample * trace.batch)
        return trace

    def remove(self) -> None:
        for h in self._handles:
            h.remove()

    # -- pages ---------------------------------------------------------------------------------
    def tensor_pages(self, t: torch.Tensor) -> np.ndarray:
        first, nbytes = self._tensor_pages[t.data_ptr()]
        return _pages(first, nbytes, self.page_bytes)

    def row_pages(self, name: str, rows: np.ndarray) -> np.ndarray:
        """First page of each looked-up row, position by position (what a page-fault trace shows)."""
        weight = self.embeddings[name].weight
        first, _ = self._tensor_pages[weight.data_ptr()]
        row_bytes = weight.element_size() * weight.shape[1]
        return first + (np.asarray(rows, dtype=np.int64) * row_bytes) // self.page_bytes

    def _row_span(self, name: str, rows: np.ndarray) -> np.ndarray:
        weight = self.embeddings[name].weight
        first, _ = self._tensor_pages[weight.data_ptr()]
        row_bytes = weight.element_size() * weight.shape[1]
        start = (rows.ravel() * row_bytes) // self.page_bytes
        end = ((rows.ravel() + 1) * row_bytes - 1) // self.page_bytes
        spans = [np.arange(s, e + 1) for s, e in zip(start.tolist(), end.tolist(), strict=True)]
        return first + np.concatenate(spans) if spans else np.zeros(0, np.int64)

    def _static_segments(self) -> list[tuple[str, np.ndarray | None]]:
        """Per executed module: the pages of its own tensors (None where an embedding lookup decides)."""
        seen: set[int] = set()
        out: list[tuple[str, np.ndarray | None]] = []
        for name in self.order:
            if name in self.embeddings:
                out.append((name, None))
                seen.add(self.embeddings[name].weight.data_ptr())
            tensors = [t for t in self._direct.get(name, []) if t.data_ptr() not in seen]
            seen.update(t.data_ptr() for t in tensors)
            if tensors:
                out.append((name, np.concatenate([self.tensor_pages(t) for t in tensors])))
        rest = [p for p, _ in self._tensor_pages.items() if p not in seen]  # used outside any hook
        if rest:
            pages = [_pages(*self._tensor_pages[p], self.page_bytes) for p in rest]
            out.append(("(unhooked)", np.concatenate(pages)))
        return out

    def activation_pages(self, trace: CallTrace) -> np.ndarray:
        return _pages(self.activation_first_page, trace.activation_bytes, self.page_bytes)

    def access_sequence(self, trace: CallTrace) -> np.ndarray:
        """Every page one call touches, in the order the forward pass touched them."""
        parts = [self.runtime_pages]
        for name, pages in self._static:
            parts.append(self._row_span(name, trace.lookups[name]) if pages is None and name in trace.lookups
                         else pages if pages is not None else np.zeros(0, np.int64))
        parts.append(self.activation_pages(trace))
        return np.concatenate(parts)

    def all_pages(self, activation_bytes: int) -> np.ndarray:
        """The enclave image as loaded: runtime, weights, activation area."""
        return np.arange(self.activation_first_page + len(_pages(0, activation_bytes, self.page_bytes)))
