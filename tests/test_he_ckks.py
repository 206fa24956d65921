"""CKKS baseline: decrypted outputs match the plaintext polynomial model; the node cannot decrypt."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal as ts
import torch
from conftest import trained_workload

from baselines.he_ckks import CKKSPipeline
from nesabench.he.circuit import extract_circuit
from nesabench.he.ckks_params import CKKSParams
from nesabench.he.ckks_parties import CKKSClient, CKKSNode

# Error CKKS may add to a logit at scale 2^33 with depth 4 (measured: ~0.01 MLP, ~0.007 CNN).
HE_TOLERANCE = 0.05
SMALL = CKKSParams(4096, (40, 20, 40), 2.0**20)


_workload = trained_workload


def test_node_context_holds_no_secret_key_and_cannot_decrypt():
    client = CKKSClient(SMALL)
    blob = client.encrypt(np.ones((2, 3)))
    node_ctx = ts.context_from(client.public_context())
    assert not node_ctx.has_secret_key() and node_ctx.is_public()
    with pytest.raises(ValueError, match="secret"):
        ts.ckks_vector_from(node_ctx, blob).decrypt()
    # The client's own context decrypts the same bytes.
    assert np.allclose(ts.ckks_vector_from(client._ctx, blob).decrypt()[:6], 1.0, atol=1e-2)


def test_node_refuses_a_context_with_a_secret_key():
    client = CKKSClient(SMALL)
    with_secret = client._ctx.serialize(save_secret_key=True)
    circuit = extract_circuit(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.zeros(3))
    with pytest.raises(RuntimeError, match="secret key"):
        CKKSNode(with_secret, circuit)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"poly_modulus_degree": 5000}, "poly_modulus_degree=5000"),
        ({"activation": "relu"}, "activation='relu'"),
        ({"global_scale": 1.0}, "global_scale"),
        ({"samples_per_ciphertext": -1}, "samples_per_ciphertext"),
    ],
)
def test_bad_parameters_are_rejected_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CKKSPipeline(**kwargs)


def test_too_few_levels_and_insecure_modulus_fail_in_prepare_with_the_depth_needed():
    wl = _workload("mlp_cancer")
    shallow = CKKSPipeline(coeff_mod_bit_sizes=[43, 33, 33, 43])
    with pytest.raises(ValueError, match=r"needs multiplicative depth 4 .* gives 2"):
        shallow.prepare(wl)
    insecure = CKKSPipeline(coeff_mod_bit_sizes=[60, 33, 33, 33, 33, 60])
    with pytest.raises(ValueError, match="over the 128-bit security bound of 218 bits"):
        insecure.prepare(wl)


@pytest.mark.parametrize("name", ["mlp_cancer", "cnn_digits"])
def test_decrypted_outputs_match_the_polynomial_model(name):
    wl = _workload(name)
    pipe = CKKSPipeline()
    pipe.prepare(wl)
    x = wl.dataset.x_test[: pipe.capacity + 1]  # one full ciphertext plus one more
    out = pipe.infer(x)
    with torch.no_grad():
        poly = pipe.poly_model(x)
    # The squares-only circuit (folded activation and pool) is the polynomial model exactly.
    xs = x.double().numpy()
    folded = pipe.circuit.forward(xs[:, 0] if xs.ndim == 4 else xs)
    assert np.allclose(folded, poly.double().numpy(), atol=1e-4)
    assert out.shape == poly.shape
    assert (out - poly).abs().max().item() < HE_TOLERANCE
    assert (out.argmax(1) == poly.argmax(1)).all()
    views = pipe.views()
    sent = next(v for v in views if v.layer == "input")
    assert sent.kind == "ciphertext" and sent.received and len(sent.payload) == len(x)
    assert sent.meta["weights"] == "plain"  # the node holds the weights: HE hides the input only
    assert sent.payload[0] is sent.payload[pipe.capacity - 1]  # packed: one ciphertext, many samples
    assert sent.payload[-1] is not sent.payload[0]
    m = pipe.metrics()
    assert m["poly_agreement"] == 1.0 and m["he_vs_poly_max_abs_err"] < HE_TOLERANCE
    assert m["mult_depth"] == 4 and m["security_bits"] == 128 and m["context_bytes"] > 0
    # Per-sample units: one call of capacity + 1 samples sent two ciphertexts, shared by the samples.
    assert m["he_samples"] == len(x) and m["he_calls"] == 1
    sent_bytes = len(sent.payload[0]) + len(sent.payload[-1])
    assert m["bytes_up_per_sample"] == pytest.approx(sent_bytes / len(x))


def test_harness_records_costs_and_a_measured_slowdown(run):
    rec = run("workload=mlp_cancer", "technique=he_ckks", "harness.eval_samples=3", "harness.repeats=1",
              "harness.warmup=0", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert rec.slowdown > 100
    assert rec.fidelity_agreement is not None
    for key in ("keygen_s", "encrypt_s_per_sample", "node_eval_s_per_sample", "decrypt_s_per_sample",
                "bytes_up_per_sample", "bytes_down_per_sample",
                "context_bytes", "mult_depth", "security_bits", "poly_accuracy", "poly_agreement",
                "packed_latency_per_sample_s"):
        assert key in rec.extra, key
    assert rec.extra["packed_latency_per_sample_s"] < rec.latency_per_sample_s


def test_attention_is_unsupported_with_a_measured_estimate(run):
    rec = run("workload=tiny_transformer", "technique=he_ckks", "technique.nonlinear=poly")
    assert rec.status == "unsupported" and "softmax" in rec.reason.lower()
    assert rec.estimated and rec.latency_p50_s > 0 and rec.slowdown > 1
    assert rec.extra["count_softmax_rows"] > 0 and rec.extra["op_ckks_rotation_s"] > 0
    # Priced with parameters that hold a softmax between bootstrappings, not the pipeline's N=8192.
    assert rec.extra["est_ckks_poly_modulus_degree"] == 32768 and rec.extra["estimate_kind"] == "lower_bound"
