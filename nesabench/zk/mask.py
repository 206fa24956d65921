"""Attention masks a circuit can hold: the "minus infinity" fill becomes a finite constant.

PyTorch and Hugging Face mask attention by filling masked scores with ``finfo(float32).min``
(about -3.4e38). EZKL quantizes every constant to a field element at the circuit's scale, and that
value does not fit ("significant bit truncation when instantiating"), so ``gen_settings`` fails on
any masked transformer. EZKL's own nanoGPT example masks with a finite -10 instead. Softmax
subtracts the row maximum before the exponential, so a masked score of -MASK_FILL carries a weight
of at most exp(-MASK_FILL) relative to the largest unmasked score: 2e-9 for 20, far below the
circuit's fixed-point resolution (2^-13 at the largest scale calibration picks), and below float32
noise in the outputs. The exponential's lookup table grows with the fill times the scale, which is
why the fill is not larger.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

#: The finite fill for masked attention scores (see the module docstring).
MASK_FILL = 20.0
#: Float constants at or below this are mask fills ("minus infinity"), not weights.
INFINITE_BELOW = -1e30


def _finite(array: np.ndarray, fill: float) -> tuple[np.ndarray, int]:
    hits = array <= INFINITE_BELOW
    return np.where(hits, np.asarray(-fill, dtype=array.dtype), array), int(hits.sum())


def finite_mask_fill(onnx_path: str | Path, fill: float = MASK_FILL) -> int:
    """Rewrite every float constant <= -1e30 in the ONNX graph to ``-fill``; return how many values changed.

    Covers initializers and the tensor attributes of nodes (``Constant``, ``ConstantOfShape``),
    which is where the exporter puts ``masked_fill``'s value and an additive mask's scale.
    """
    if not fill > 0:
        raise ValueError(f"fill={fill} is not accepted; accepted: a positive number (masked score -fill)")
    path = Path(onnx_path)
    model = onnx.load(str(path))
    changed = 0
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype.kind == "f" and array.size:
            new, n = _finite(array, fill)
            if n:
                init.CopyFrom(numpy_helper.from_array(new, init.name))
                changed += n
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type != onnx.AttributeProto.TENSOR:
                continue
            array = numpy_helper.to_array(attr.t)
            if array.dtype.kind == "f" and array.size:
                new, n = _finite(array, fill)
                if n:
                    attr.t.CopyFrom(numpy_helper.from_array(new, attr.t.name))
                    changed += n
    if changed:
        onnx.save(model, str(path))
    return changed


def has_padding(*ids: torch.Tensor, pad_id: int) -> bool:
    """Whether any of the workload's token id tensors contains the pad id (then calibration needs padded
    copies; without padding in the data they only widen the exponential's lookup table)."""
    return any(bool((t == pad_id).any()) for t in ids)


def with_padded_copies(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Calibration token ids plus a copy whose last quarter of positions is padding.

    Calibration sizes EZKL's lookup tables from the values it sees; without padded inputs the
    exponential's table does not reach the masked scores, and proving a padded input then fails (in
    ezkl 23 it deadlocks: nesabench/zk/child.py)."""
    padded = ids.clone()
    padded[:, -max(1, ids.shape[1] // 4):] = pad_id
    return torch.cat([ids, padded])
