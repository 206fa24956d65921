"""TFHE hybrid mode (Concrete ML's HybridFHEModel): linear layers in FHE, the rest on the client.

A one-layer tiny transformer (d_model 8, 4 tokens) in simulation against plaintext, and real TFHE
executions of very small linear layers with the client and node apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from baselines.he_tfhe import TFHEPipeline
from nesabench.he.tfhe_hybrid import HybridTFHE, encrypted_macs, used_linear_layers
from nesabench.workloads.data import majority_sequences
from nesabench.workloads.models import TinyTransformer
from nesabench.workloads.training import train_classifier
from nesabench.workloads.workload import Workload

# Outputs of the hybrid at n_bits=8 (each linear layer's input and weights quantized per tensor)
# stay within this fraction of the plaintext logits' range, and agree on the class almost always.
LOGIT_TOLERANCE = 0.05
MIN_AGREEMENT = 0.95


def tiny_transformer_workload(cache_dir: Path) -> Workload:
    ds = majority_sequences(n_samples=240, vocab_size=8, seq_len=4, num_classes=2, seed=0)

    def new_model() -> nn.Module:
        torch.manual_seed(0)
        return TinyTransformer(vocab_size=8, seq_len=4, num_classes=2, d_model=8, n_heads=2, d_ff=8)

    model = train_classifier(new_model(), ds, seed=0, epochs=40, lr=0.01)
    return Workload(name="tiny_tf", dataset=ds, model=model, seed=0, key="tiny_tf", config={},
                    cache_dir=cache_dir, new_model=new_model, recipe=train_classifier)


@pytest.fixture(scope="module")
def workload(tmp_path_factory) -> Workload:
    return tiny_transformer_workload(tmp_path_factory.mktemp("tfhe_hybrid"))


def test_used_linear_layers_skip_what_the_output_ignores():
    class WithUnused(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.unused, self.b = nn.Linear(3, 3), nn.Linear(3, 3), nn.Linear(3, 2)

        def forward(self, x):
            self.unused(x)  # computed, never used (like BERT's pooler under mean pooling)
            return self.b(torch.relu(self.a(x)))

    model = WithUnused()
    assert used_linear_layers(model, torch.randn(2, 3)) == ["a", "b"]
    assert encrypted_macs(model, ["a", "b"], torch.randn(2, 3)) == 3 * 3 + 3 * 2


@pytest.fixture(scope="module")
def executed(workload):
    """One hybrid pipeline, compiled and keyed once: two samples executed for real."""
    pipe = TFHEPipeline(n_bits=8, rounding_threshold_bits=8, fhe="execute", fhe_samples=2, max_repeats=1,
                        check_estimate=False)
    pipe.check(workload)  # softmax and token ids: the whole model cannot compile, the hybrid can
    pipe.prepare(workload)
    x = workload.dataset.x_test[:2]
    out = pipe.infer(x)
    views = pipe.views()
    return pipe, x, out, views, pipe.metrics()  # metrics simulate the whole test split: once


def test_auto_mode_runs_transformers_hybrid_and_matches_plaintext_in_simulation(workload, executed):
    pipe, _x, _out, _views, m = executed
    assert pipe.split == "hybrid"
    assert pipe._hybrid_names == ["blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.attn.v", "blocks.0.attn.o",
                                  "blocks.0.ff1", "blocks.0.ff2", "head"]
    x = workload.dataset.x_test
    out = pipe.hybrid.forward(x, "simulate").numpy()
    with torch.no_grad():
        ref = workload.model(x).numpy()
    span = ref.max() - ref.min()
    assert np.abs(out - ref).max() <= LOGIT_TOLERANCE * span
    assert (out.argmax(1) == ref.argmax(1)).mean() >= MIN_AGREEMENT
    assert m["mode"] == "hybrid (linear in FHE)" and m["fhe_layers"] == 7
    assert m["simulate_samples"] == len(x) and m["simulate_vs_float_agreement"] >= MIN_AGREEMENT


def test_mac_budget_caps_the_real_executions(workload):
    pipe = TFHEPipeline(fhe="execute", fhe_samples=8, max_repeats=3, mac_budget=1.0)
    pipe.check(workload)
    assert pipe.max_eval_samples == 1 and pipe.max_repeats == 1
    pipe = TFHEPipeline(fhe="execute", fhe_samples=8, max_repeats=3)
    pipe.check(workload)
    assert pipe.max_eval_samples == 8 and pipe.max_repeats == 3


def test_real_execution_of_a_small_linear_layer_matches_simulation_with_parties_apart():
    """One real TFHE round: the client encrypts, the node evaluates with evaluation keys, the client
    decrypts; the result equals Concrete's simulation of the same circuit exactly (no bootstrapping)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    hybrid = HybridTFHE(model, ["0"])
    hybrid.compile(torch.randn(64, 4), n_bits=6, rounding_threshold_bits=6, p_error=None)
    hybrid.keygen()
    x = torch.randn(2, 4)
    executed = hybrid.forward(x, "execute")
    simulated = hybrid.forward(x, "simulate")
    assert executed.shape == (2, 2)
    assert torch.allclose(executed, simulated, atol=1e-6)
    wire = hybrid.wire
    assert wire.stats.rounds == 1 and wire.calls == ["0"]
    traffic = wire.traffic["0"]
    assert len(traffic.up) == 2 and traffic.up_bytes > 0 and traffic.down_bytes > 0
    # The node holds the server side and evaluation keys only: a fresh client of the same circuit
    # (other secret keys) does not read its result as the client does.
    from concrete import fhe

    circuit = hybrid.hybrid.private_q_modules["0"].fhe_circuit
    stranger = fhe.Client(circuit.client.specs)
    stranger.keygen()
    ours, theirs = [], []
    for row in x.numpy():
        result = wire.nodes["0"].evaluate(wire.clients["0"].encrypt(row[None]))
        ours.append(np.asarray(circuit.decrypt(fhe.Value.deserialize(result))))
        theirs.append(np.asarray(stranger.decrypt(fhe.Value.deserialize(result))))
    assert not np.array_equal(np.stack(ours), np.stack(theirs))


def test_pipeline_executes_a_tiny_transformer_hybrid_with_views_per_layer(executed):
    pipe, x, out, views, m = executed
    assert torch.allclose(out, pipe.hybrid.forward(x, "simulate"), atol=1e-5)
    assert {v.layer for v in views} == {f"{n}:{d}" for n in pipe._hybrid_names for d in ("input", "output")}
    assert all(v.party == "node" and v.kind == "ciphertext" and len(v.payload) == 2 for v in views)
    assert m["rounds_per_inference"] == 7 and m["he_samples"] == 2
    sent = sum(v.nbytes for v in views if v.received)
    assert m["bytes_up_per_sample"] == pytest.approx(sent / 2)
    assert m["execute_vs_simulate_agreement"] == 1.0
    assert m["client_s_per_sample"] > 0 and m["node_eval_s_per_sample"] > 0


@pytest.mark.slow
def test_tiny_transformer_cell_is_measured_hybrid_and_its_ciphertexts_are_probed(run):
    rec = run("workload=tiny_transformer", "technique=he_tfhe")
    assert rec.status == "ok" and not rec.estimated, rec.reason
    assert rec.extra["mode"] == "hybrid (linear in FHE)" and rec.extra["rounds_per_inference"] == 7
    assert rec.extra["execute_vs_simulate_agreement"] == 1.0
    assert rec.extra["float_accuracy"] - rec.extra["simulate_accuracy"] <= 0.03
    assert rec.bytes_to_nodes > 0
    # 8 executed samples: the ciphertext probes run, and read nothing off TFHE ciphertexts.
    assert rec.extra["leakage_eval_samples"] == 8 and rec.extra["input_leakage_detectable"] is not True


@pytest.mark.slow
def test_minilm_cell_is_measured_per_layer(run):
    """Minutes: encoder layer 0 and the head executed in FHE (1 sample for quality, 1 timed call),
    layers 1-5 in float on the client; latency = measured layer x 6 + the rest."""
    rec = run("workload=minilm", "technique=he_tfhe", "harness.warmup=0")
    assert rec.status == "ok" and not rec.estimated, rec.reason
    assert rec.extra["mode"] == "hybrid (linear in FHE), measured per layer x 6"
    assert rec.extra["fhe_layers"] == 7 and rec.extra["rounds_per_inference"] == 37 and rec.latency_n == 1
    assert rec.extra["execute_vs_simulate_agreement"] == 1.0
    assert rec.extra["execute_vs_float_agreement"] == 1.0


def test_p_error_reaches_each_layer_circuit():
    """The hybrid's layer circuits are compiled for the configured p_error too (Concrete ML's
    default would give ~1e-13): dropping it on the way to HybridFHEModel fails here."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    hybrid = HybridTFHE(model, ["0"])
    hybrid.compile(torch.randn(64, 4), n_bits=6, rounding_threshold_bits=6, p_error=0.05)
    assert 1e-3 < hybrid.circuits()["0"].p_error <= 0.05
