"""Diagonal packing of client-aided rounds: column blocks and baby-step giant-step rotations.

A round matches numpy within CLIENT_TOLERANCE for shapes with several input and output blocks and
partial blocks, the node holds no secret key, and a transformer run this way matches plaintext.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import trained_workload

from baselines.he_ckks import CKKSPipeline
from nesabench.he.ckks_diagonal import DiagonalLinearNode, diagonal_layout
from nesabench.he.ckks_params import CKKSParams
from nesabench.he.ckks_parties import CKKSRoundClient

CLIENT_TOLERANCE = 1e-3
PARAMS = CKKSParams(8192, (60, 40, 40, 60), 2.0**40)


@pytest.mark.parametrize(("rows", "d_in", "d_out"), [(64, 100, 70), (5, 40, 300)])
def test_a_diagonal_round_matches_numpy(rows, d_in, d_out):
    p, c = diagonal_layout(PARAMS.slots, rows)
    assert p * c == PARAMS.slots
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(rows, d_in)), rng.normal(size=(d_in, d_out)) / 10, rng.normal(size=d_out)
    client = CKKSRoundClient(PARAMS)
    node = DiagonalLinearNode(client.public_context(), {"fc": (w, b)}, PARAMS.slots)
    assert not node.context.has_secret_key()
    blobs = client.encrypt_blocks(x)
    assert len(blobs) == -(-d_in // c)
    result = node.evaluate("fc", blobs, rows)
    assert len(result) == -(-d_out // c)
    out = client.decrypt_blocks(result, rows, d_out)
    assert out.shape == (rows, d_out)
    assert np.abs(out - (x @ w + b)).max() < CLIENT_TOLERANCE
    assert node.rotations > 0 and node.plain_products > 0
    if len(blobs) > 1:
        with pytest.raises(ValueError, match="column blocks"):
            node.evaluate("fc", blobs[:1], rows)


def test_both_packings_match_plaintext_on_the_transformer():
    wl = trained_workload("tiny_transformer")
    x = wl.dataset.x_test[:1]
    with torch.no_grad():
        ref = wl.model(x)
    for packing in ("diagonal", "per_neuron"):
        pipe = CKKSPipeline(nonlinear="client", client_packing=packing)
        pipe.prepare(wl)
        assert (pipe.infer(x) - ref).abs().max().item() < CLIENT_TOLERANCE
        m = pipe.metrics()
        assert m["client_packing"] == packing
        # The head (one row) takes enc_matmul_plain either way; the 16-token rounds rotate by diagonals.
        assert (m["node_rotations_per_sample"] > 0) == (packing == "diagonal")
        assert m["node_matmul_plain_ops_per_sample"] == (3 if packing == "diagonal" else 227)
    with pytest.raises(ValueError, match="client_packing"):
        CKKSPipeline(client_packing="bsgs")
