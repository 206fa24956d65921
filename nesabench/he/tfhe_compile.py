"""Concrete ML compilation of a torch model, through the TorchScript ONNX exporter.

``compile_torch_model`` exports with ``torch.onnx.export``'s default, which in torch 2.13 is the
dynamo exporter; it writes ``auto_pad`` on Conv nodes, which Concrete ML 1.9 rejects. Exporting
with the same opset and ``dynamo=False`` and handing the graph to ``compile_onnx_model`` is the
same Concrete ML pipeline (post-training quantization, rounding, TFHE compilation).
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch


def compile_model(
    model: torch.nn.Module,
    inputset: np.ndarray,
    n_bits: int,
    rounding_threshold_bits: int | None,
    p_error: float | None,
):
    from concrete.ml.onnx.convert import OPSET_VERSION_FOR_ONNX_EXPORT
    from concrete.ml.torch.compile import compile_onnx_model

    names = list(inspect.signature(model.forward).parameters)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(model, torch.from_numpy(inputset[:1]), str(path), dynamo=False,
                          opset_version=OPSET_VERSION_FOR_ONNX_EXPORT, input_names=names)
        graph = onnx.load_model(str(path))
    return compile_onnx_model(graph, inputset, n_bits=n_bits, rounding_threshold_bits=rounding_threshold_bits,
                              p_error=p_error)
