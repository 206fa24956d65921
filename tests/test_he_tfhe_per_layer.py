"""TFHE hybrid, per-layer measured mode: the first encoder layer's linear layers (and the head) in FHE.

A two-layer tiny transformer (d_model 8, 4 tokens) with ``fhe_layers: 1``: block 0 and the head run
as real TFHE rounds, block 1 in float on the client; the record's latency, bytes and rounds are the
measured FHE layer x 2 + the rest. Two layers because per layer x N needs a layer left out.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from baselines.he_tfhe import TFHEPipeline
from nesabench.he.tfhe_per_layer import encoder_layer_of, split_layers
from nesabench.workloads.data import majority_sequences
from nesabench.workloads.models import TinyTransformer
from nesabench.workloads.training import train_classifier
from nesabench.workloads.workload import Workload

# At n_bits=8 the executed logits stay within this fraction of the plaintext logits' range and
# agree on the class for both executed samples (block 1 and the rest are exact float).
LOGIT_TOLERANCE = 0.05
BLOCK = ["attn.q", "attn.k", "attn.v", "attn.o", "ff1", "ff2"]


@pytest.fixture(scope="module")
def workload(tmp_path_factory) -> Workload:
    ds = majority_sequences(n_samples=160, vocab_size=8, seq_len=4, num_classes=2, seed=0)

    def new_model() -> nn.Module:
        torch.manual_seed(0)
        return TinyTransformer(vocab_size=8, seq_len=4, num_classes=2, d_model=8, n_heads=2, d_ff=8,
                               n_layers=2)

    model = train_classifier(new_model(), ds, seed=0, epochs=40, lr=0.01)
    return Workload(name="tiny_tf2", dataset=ds, model=model, seed=0, key="tiny_tf2", config={},
                    cache_dir=tmp_path_factory.mktemp("tfhe_per_layer"), new_model=new_model,
                    recipe=train_classifier)


@pytest.fixture(scope="module")
def executed(workload):
    pipe = TFHEPipeline(n_bits=8, rounding_threshold_bits=8, fhe="execute", fhe_samples=2, max_repeats=1,
                        check_estimate=False, fhe_layers=1, calibration_samples=32)
    pipe.check(workload)
    pipe.prepare(workload)
    x = workload.dataset.x_test[:2]
    outs = [pipe.infer(x[:1]), pipe.infer(x[1:])]
    return pipe, x, torch.cat(outs), pipe.metrics()


def test_split_takes_the_first_layers_and_the_head_and_refuses_unlike_layers():
    names = [f"enc.layer.{i}.{b}" for i in range(3) for b in BLOCK] + ["head"]
    split = split_layers(names, 1)
    assert split.layers == ["enc.layer.0", "enc.layer.1", "enc.layer.2"] and split.per_layer
    assert split.names == [f"enc.layer.0.{b}" for b in BLOCK] + ["head"]
    assert not split_layers(names, None).per_layer and split_layers(names, 5).fhe_layers == 3
    assert encoder_layer_of("head") is None and encoder_layer_of("0") is None
    with pytest.raises(ValueError, match="differ in their linear layers"):
        split_layers([*names[:-2], "head"], 1)  # layer 2 lacks ff2: one layer cannot stand for all


def test_per_layer_mode_runs_block_0_in_fhe_and_matches_plaintext(workload, executed):
    pipe, x, out, m = executed
    assert pipe.per_layer and pipe._hybrid_names == [f"blocks.0.{b}" for b in BLOCK] + ["head"]
    remote = set(pipe.hybrid.hybrid.remote_modules)
    assert not any(n.startswith("blocks.1.") for n in remote)  # block 1 stays float on the client
    with torch.no_grad():
        ref = workload.model(x).numpy()
    span = ref.max() - ref.min()
    assert np.abs(out.numpy() - ref).max() <= LOGIT_TOLERANCE * span
    assert (out.numpy().argmax(1) == ref.argmax(1)).all()
    assert m["mode"] == "hybrid (linear in FHE), measured per layer x 2"
    assert m["execute_vs_float_agreement"] == 1.0 and m["execute_vs_float_samples"] == 2
    assert m["execute_vs_simulate_agreement"] == 1.0
    assert "blocks.0" in m["fidelity_scope"] and "1 encoder layers in float" in m["fidelity_scope"]


def test_per_layer_record_scales_the_measured_layer_by_the_layer_count(executed):
    _pipe, _x, _out, m = executed
    assert m["layers"] == 2 and m["encrypted_layers"] == 1 and m["latency_n"] == 2
    # 7 rounds ran per inference (block 0 + head); one inference is block x 2 + head: 13 rounds.
    assert m["measured_rounds_per_inference"] == 7 and m["rounds_per_inference"] == 13
    assert m["measured_layer_rounds"] == 6
    head_up = m["measured_bytes_up_per_sample"] - m["measured_layer_bytes_up"]
    assert head_up > 0
    assert m["bytes_up_per_sample"] == pytest.approx(2 * m["measured_layer_bytes_up"] + head_up)
    assert m["latency_per_sample_s"] == pytest.approx(2 * m["measured_layer_s"] + m["measured_head_s"])
