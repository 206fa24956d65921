"""Per-layer measured mode of client-aided CKKS (client_layers < the model's layers).

A 2-layer tiny transformer with one layer encrypted: latency, bytes and rounds per inference are the
recorded encrypted layer x 2 + the recorded head part, the mode says so, and the outputs match
plaintext within CLIENT_TOLERANCE (the second layer runs with plaintext linear layers).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import trained_workload

from baselines.he_ckks import CKKSPipeline
from nesabench.he.ckks_per_layer import RoundMark, sample_cost
from nesabench.workloads.models import TinyTransformer

CLIENT_TOLERANCE = 1e-3  # as tests/test_he_ckks_client.py: CKKS error at scale 2^40 is ~1e-5


def two_layer_workload():
    wl = trained_workload("tiny_transformer")
    ds = wl.dataset
    torch.manual_seed(0)
    model = TinyTransformer(wl.model.embed.num_embeddings, ds.x_test.shape[1], ds.num_classes,
                            pad_id=wl.model.pad_id, n_layers=2).eval()
    return dataclasses.replace(wl, model=model)


def test_one_of_two_layers_encrypted_costs_the_measured_layer_times_two_plus_the_head():
    wl = two_layer_workload()
    pipe = CKKSPipeline(nonlinear="client", client_layers=1)
    pipe.check(wl)
    assert pipe.per_layer and (pipe.layers, pipe.encrypted_layers) == (2, 1)
    assert (pipe.max_eval_samples, pipe.max_repeats) == (8, 1)
    pipe.prepare(wl)
    x = wl.dataset.x_test[:3]
    out = torch.cat([pipe.infer(x[i : i + 1]) for i in range(len(x))])
    with torch.no_grad():
        ref = wl.model(x)
    assert (out - ref).abs().max().item() < CLIENT_TOLERANCE and (out.argmax(1) == ref.argmax(1)).all()

    m = pipe.metrics()
    assert m["mode"] == "client-aided, measured per layer x 2" and m["encrypted_layers"] == 1
    assert m["latency_n"] == 3 and m["he_vs_plain_max_abs_err"] < CLIENT_TOLERANCE
    # Per inference = the recorded parts, scaled: one encrypted layer x 2 layers + the head part.
    layer_s, head_s = m["measured_layer_s"], m["measured_head_s"]
    assert m["latency_per_sample_s"] == pytest.approx(2 * layer_s + head_s, rel=1e-9)
    assert m["latency_mean_s"] == pytest.approx(m["latency_per_sample_s"], rel=1e-9)
    assert m["measured_layer_rounds"] == 4 and m["measured_head_rounds"] == 1
    assert m["rounds_per_inference"] == 9
    assert m["measured_rounds_per_sample"] == 5  # what actually ran encrypted: layer 0 and the head
    for way in ("up", "down"):
        layer_b, head_b = m[f"measured_layer_bytes_{way}"], m[f"measured_head_bytes_{way}"]
        assert layer_b > head_b > 0
        assert m[f"bytes_{way}_per_sample"] == pytest.approx(2 * layer_b + head_b, rel=1e-9)
    measured_up = m["measured_bytes_up_per_sample"]  # what actually went up: layer 0 and the head
    assert measured_up == pytest.approx(m["measured_layer_bytes_up"] + m["measured_head_bytes_up"], rel=1e-9)
    assert measured_up < m["bytes_up_per_sample"]
    # The parts are slices of the forward that ran (the plaintext second layer is the rest of it).
    assert 0 < layer_s + head_s <= m["partial_forward_s"]
    assert "encrypt_s_per_sample" not in m and m["measured_encrypt_s_per_sample"] > 0
    views = pipe.views()
    assert views[0].meta["mode"] == m["mode"] and views[0].meta["rounds"] == 5


def test_all_layers_encrypted_is_the_plain_client_aided_mode():
    wl = two_layer_workload()
    pipe = CKKSPipeline(nonlinear="client", client_layers="all")
    pipe.check(wl)
    assert not pipe.per_layer and (pipe.max_eval_samples, pipe.max_repeats) == (8, 1)
    pipe.prepare(wl)
    x = wl.dataset.x_test[:1]
    out = pipe.infer(x)
    with torch.no_grad():
        assert (out - wl.model(x)).abs().max().item() < CLIENT_TOLERANCE
    m = pipe.metrics()
    assert m["mode"] == "client-aided" and m["rounds_per_inference"] == 9 and "latency_p50_s" not in m
    # The built-in tiny_transformer has one layer: the default client_layers=1 runs it all encrypted.
    default = CKKSPipeline()
    default.check(trained_workload("tiny_transformer"))
    assert default.mode == "client" and not default.per_layer and default.encrypted_layers == 1


def test_sample_cost_splits_the_wall_time_at_the_rounds():
    names = ["layer.0.qkv", "layer.0.o", "layer.0.ff1", "layer.0.ff2"]
    marks = [RoundMark(n, 1.0 + k, True, 100, 10) for k, n in enumerate(names)]
    marks += [RoundMark(n.replace(".0.", ".1."), 5.0 + 0.1 * k, False) for k, n in enumerate(names)]
    marks += [RoundMark(n.replace(".0.", ".2."), 6.0 + 0.1 * k, False) for k, n in enumerate(names)]
    marks.append(RoundMark("head", 7.0, True, 50, 5))
    cost = sample_cost(marks, start=0.5, end=7.5, layers=3)
    assert cost.layer_s == [4.0] and cost.rest_s == pytest.approx(0.5 + 0.5)
    assert cost.latency_s == pytest.approx(4.0 * 3 + 1.0)
    assert cost.bytes_up == 400 * 3 + 50 and cost.bytes_down == 40 * 3 + 5 and cost.rounds == 4 * 3 + 1
    with pytest.raises(ValueError, match="first ones"):
        sample_cost([dataclasses.replace(m, encrypted=m.name.startswith(("layer.1", "head"))) for m in marks],
                    0.5, 7.5, 3)
    with pytest.raises(ValueError, match="all be encrypted or all plaintext"):
        sample_cost([dataclasses.replace(marks[0], encrypted=False), *marks[1:]], 0.5, 7.5, 3)


@pytest.mark.parametrize("value", [0, "some", True, 1.5])
def test_bad_client_layers_is_rejected(value):
    with pytest.raises(ValueError, match="client_layers"):
        CKKSPipeline(client_layers=value)


@pytest.mark.slow
def test_minilm_cell_is_measured_per_layer_x_6(run):
    rec = run("workload=minilm", "technique=he_ckks")
    assert rec.status == "ok", rec.reason
    fields = {**vars(rec), **rec.extra}
    assert not rec.estimated and fields["mode"] == "client-aided, measured per layer x 6"
    assert fields["encrypted_layers"] == 1 and fields["rounds_per_inference"] == 25
    parts = 6 * fields["measured_layer_s"] + fields["measured_head_s"]
    assert rec.latency_per_sample_s == pytest.approx(parts)
    assert rec.fidelity_agreement == 1.0 and fields["he_vs_plain_max_abs_err"] < CLIENT_TOLERANCE
    assert rec.slowdown == pytest.approx(rec.latency_p50_s / rec.plaintext_latency_p50_s)
    assert fields["input_privacy"] is not None  # 8 samples: the ciphertext probes are scored
