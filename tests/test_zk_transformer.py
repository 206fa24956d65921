"""EZKL on transformers: the finite mask fill is output-equivalent, and a one-layer transformer at tiny
dims proves and verifies, whole and per layer, with outputs within tolerance of plaintext."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import CACHE_DIR, trained_workload

from baselines.zk_ezkl import ZkEzklPipeline
from nesabench.pipeline import Unsupported
from nesabench.workloads.data import majority_sequences
from nesabench.workloads.models import TinyTransformer
from nesabench.workloads.workload import Workload
from nesabench.zk.circuit import Circuit
from nesabench.zk.layers import split_layers
from nesabench.zk.mask import finite_mask_fill, has_padding
from nesabench.zk.visibility import Visibility

# A masked key keeps a weight of at most exp(-MASK_FILL) = 2e-9 of the largest score's: float noise.
MASK_TOLERANCE = 1e-5
# Logits of the tiny random transformer are O(1); the circuit's fixed point (scale >= 2^7 after
# calibration) and its exp/erf/rsqrt lookups keep them within this, far from any class flip.
LOGIT_TOLERANCE = 0.1
# Scale 2^7 keeps the exponential's table (masked scores reach -MASK_FILL * 2^scale) within 2^15 rows.
TINY = {"max_logrows": 15, "calibration_scales": [7], "prove_samples": 1, "max_repeats": 1,
        "fidelity_samples": 4, "scaling_logrows": (12, 13), "check_estimate": False, "calibration_samples": 8}


def tiny_transformer_workload(n_layers: int = 1) -> Workload:
    """A random transformer at tiny dims on 4-token sequences; half the test sequences end in padding."""
    torch.manual_seed(0)
    ds = majority_sequences(n_samples=40, vocab_size=8, seq_len=4, num_classes=3)
    ds.x_test[::2, -1] = 0  # pad id: the mask is exercised in the circuit
    model = TinyTransformer(vocab_size=8, seq_len=4, num_classes=3, d_model=4, n_heads=1, d_ff=8,
                            n_layers=n_layers).eval()
    return Workload(name="tiny_test", dataset=ds, model=model, seed=0, key="tiny-test", config={},
                    cache_dir=Path(CACHE_DIR), new_model=lambda: model, recipe=lambda m, *a, **k: m)


def _onnx_outputs(path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


@pytest.mark.parametrize("name", ["tiny_transformer", "tiny_test"])
def test_finite_mask_fill_is_output_equivalent_on_padded_inputs(tmp_path: Path, name: str) -> None:
    wl = tiny_transformer_workload() if name == "tiny_test" else trained_workload(name)
    x = wl.dataset.x_test[:16].clone()
    x[:, -3:] = 0  # three padded positions in every sequence
    circuit = Circuit(tmp_path, Visibility(input="private", params="fixed"))
    torch.onnx.export(wl.copy_model(), x[:1], str(circuit.onnx), dynamo=False, opset_version=18)
    infinite = np.concatenate([_onnx_outputs(circuit.onnx, x[i:i + 1]) for i in range(len(x))])
    assert finite_mask_fill(circuit.onnx) == 1  # the one masked_fill constant
    finite = np.concatenate([_onnx_outputs(circuit.onnx, x[i:i + 1]) for i in range(len(x))])
    with torch.no_grad():
        plain = wl.model(x).numpy()
    assert np.abs(infinite - plain).max() < MASK_TOLERANCE
    assert np.abs(finite - plain).max() < MASK_TOLERANCE, np.abs(finite - plain).max()
    # ...and the fill matters: with no masking at all (fill 0) the padded outputs move.
    circuit.export(wl.copy_model(), x[:1], mask_fill=1e-9)
    unmasked = np.concatenate([_onnx_outputs(circuit.onnx, x[i:i + 1]) for i in range(len(x))])
    assert np.abs(unmasked - plain).max() > 100 * MASK_TOLERANCE


def test_mask_fill_leaves_other_constants_alone(tmp_path: Path) -> None:
    circuit = Circuit(tmp_path, Visibility(input="private", params="fixed"))
    circuit.export(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.zeros(1, 3))
    assert circuit.mask_values_replaced == 0
    with pytest.raises(ValueError, match="fill=0"):
        finite_mask_fill(circuit.onnx, 0.0)


def test_padding_is_found_only_where_the_data_has_it() -> None:
    wl = tiny_transformer_workload()
    assert has_padding(wl.dataset.x_train, wl.dataset.x_test, pad_id=0)
    assert not has_padding(torch.tensor([[1, 2, 3]]), pad_id=0)
    assert not has_padding(trained_workload("tiny_transformer").dataset.x_test, pad_id=0)


def test_layer_split_reassembles_the_model() -> None:
    wl = tiny_transformer_workload(n_layers=2)
    split = split_layers(wl.copy_model())
    assert split is not None and split.n_layers == 2
    x = wl.dataset.x_test[:6]
    with torch.no_grad():
        assert torch.allclose(split.finish(x, split.layer(*split.inputs(x))), wl.model(x), atol=1e-6)


@pytest.mark.parametrize("per_layer", [False, True])
def test_one_layer_transformer_proves_verifies_and_matches_plaintext(per_layer: bool) -> None:
    wl = tiny_transformer_workload(n_layers=2 if per_layer else 1)
    pipe = ZkEzklPipeline(input_visibility="public", per_layer_params=1 if per_layer else 10**9, **TINY)
    pipe.check(wl)
    pipe.prepare(wl)
    x = wl.dataset.x_test[:1]  # padded: its last position is the pad id
    assert (x == 0).any()
    claimed = pipe.infer(x)
    with torch.no_grad():
        plain = wl.model(x)
    assert torch.allclose(claimed, plain, atol=LOGIT_TOLERANCE), (claimed, plain)
    assert pipe.verify(None).verified
    assert not pipe.verify("output").verified and not pipe.verify("proof_byte").verified
    m = pipe.metrics()
    assert m["mask_values_replaced"] == 1 and m["proofs_made"] == 1
    assert m["setup_peak_rss_mb"] > 0 and m["prove_peak_rss_mb"] > 0
    assert m["circuit_agreement"] >= 0.75
    # the test data has padding, so calibration saw padded copies (the masked scores' exp table)
    assert m["calibration_padded_copies"] is True and m["num_inner_cols"] == 2
    assert m["lookup_range_min"] < 0 < m["lookup_range_max"]
    if per_layer:
        assert m["mode"] == "measured per layer x 2" and m["layers"] == 2
        assert m["latency_p50_s"] >= 2 * m["latency_one_layer_p50_s"] > 0
        # the circuit is one of the two layers: its size, not the model's, places it in zk_prove
        assert m["circuit_params"] < sum(p.numel() for p in wl.model.parameters()) / 2
    else:
        assert "mode" not in m and "latency_p50_s" not in m


def test_key_generation_over_the_memory_cap_is_unsupported_with_an_estimate() -> None:
    wl = tiny_transformer_workload()
    pipe = ZkEzklPipeline(**{**TINY, "max_memory_gb": 0.05})
    pipe.check(wl)
    with pytest.raises(Unsupported) as info:
        pipe.prepare(wl)
    assert "0.05 GB" in info.value.reason
    est = info.value.estimate
    assert est["latency_p50_s"] > 0 and est["setup_peak_rss_mb"] is not None
    assert est["mask_values_replaced"] == 1


@pytest.mark.slow
def test_tiny_transformer_cell_is_measured(run) -> None:
    """The real workload end to end through the harness (minutes per proof on 2 cores)."""
    rec = run("workload=tiny_transformer", "technique=zk_ezkl", "harness.leakage=false", "harness.warmup=0",
              "technique.prove_samples=1", "technique.fidelity_samples=10")
    assert rec.status == "ok", rec.reason
    assert not rec.estimated and rec.verified is True and rec.tamper_detection_rate == 1.0
    assert rec.extra["mask_values_replaced"] == 1 and rec.extra["prove_peak_rss_mb"] > 0
    assert rec.extra["circuit_agreement"] >= 0.9


@pytest.mark.slow
def test_minilm_cell_is_one_layer_measured_or_unsupported_with_its_memory(run) -> None:
    rec = run("workload=minilm", "technique=zk_ezkl", "harness.leakage=false", "harness.warmup=0",
              "technique.prove_samples=1", "technique.fidelity_samples=4")
    if rec.status == "ok":
        assert not rec.estimated and rec.extra["mode"] == "measured per layer x 6"
        assert rec.verified is True
    else:
        assert rec.status == "unsupported" and rec.estimated, rec.reason
        assert "GB" in rec.reason and "peak RSS" in rec.reason and rec.extra["layers"] == 6
