"""The enclave measurement: SHA-256 over the code that runs inside and the model's weights.

Like SGX's MRENCLAVE, it is computed from what is loaded, not from what anyone claims: the source
files of every module class in the model (torch, transformers, the workload's own), the enclave
runtime's own modules, and every parameter and buffer tensor byte for byte.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

#: The enclave runtime's own modules: they handle the plaintext, so they are measured too.
RUNTIME_MODULES = ("nesabench.tee.enclave", "nesabench.tee.sealing", "nesabench.tee.memory_trace")


def code_files(model: nn.Module, runtime_modules: Iterable[str] = RUNTIME_MODULES) -> list[Path]:
    """Source files of the runtime and of every module class the model is built from."""
    files: set[Path] = set()
    for name in runtime_modules:
        __import__(name)
        files.add(Path(inspect.getsourcefile(sys.modules[name])).resolve())
    for module in model.modules():
        for cls in type(module).__mro__:
            if cls is object or cls.__module__ == "builtins":
                continue
            try:
                src = inspect.getsourcefile(cls)
            except TypeError:  # classes defined in C
                continue
            if src:
                files.add(Path(src).resolve())
    return sorted(files)


def load_code(files: Iterable[Path]) -> dict[str, bytes]:
    """What the host loads into the enclave: file name -> source bytes."""
    return {str(p): Path(p).read_bytes() for p in files}


def code_digest(code: Mapping[str, bytes]) -> bytes:
    h = hashlib.sha256(b"nesabench-tee-code-v1")
    for name in sorted(code):
        blob = code[name]
        h.update(Path(name).name.encode() + b"\0" + len(blob).to_bytes(8, "big"))
        h.update(blob)
    return h.digest()


def weights_digest(model: nn.Module) -> bytes:
    h = hashlib.sha256(b"nesabench-tee-weights-v1")
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode() + b"\0")
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return h.digest()


def measure(code: Mapping[str, bytes], model: nn.Module) -> bytes:
    """SHA-256(code digest || weights digest): 32 bytes, public (it identifies, it does not hide)."""
    body = b"nesabench-tee-measurement-v1" + code_digest(code) + weights_digest(model)
    return hashlib.sha256(body).digest()
