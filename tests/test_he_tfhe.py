"""TFHE baseline: one real Concrete ML execution at tiny size; simulation and parameters checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import trained_workload
from torch import nn

from baselines.he_tfhe import TFHEPipeline
from nesabench.pipeline import Unsupported
from nesabench.workloads.data import Dataset
from nesabench.workloads.training import train_classifier
from nesabench.workloads.workload import Workload


def tiny_workload(cache_dir: Path) -> Workload:
    """Two Gaussian blobs in 4 features and a 4-4-2 MLP: keygen stays in seconds."""
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (160,), generator=gen)
    x = torch.randn(160, 4, generator=gen) + 2.0 * y[:, None].float()
    ds = Dataset(name="blobs", x_train=x[:120], y_train=y[:120], x_test=x[120:], y_test=y[120:],
                 num_classes=2, input_kind="tabular", model_kwargs={})

    def new_model() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))

    model = train_classifier(new_model(), ds, seed=0, epochs=30)
    return Workload(name="blobs", dataset=ds, model=model, seed=0, key="blobs", config={},
                    cache_dir=cache_dir, new_model=new_model, recipe=train_classifier)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """A real TFHE run: compile, keygen, then two samples encrypted, evaluated by the node, decrypted."""
    wl = tiny_workload(tmp_path_factory.mktemp("tfhe"))
    pipe = TFHEPipeline(n_bits=3, rounding_threshold_bits=3, fhe="execute", fhe_samples=2,
                        check_estimate=False)
    pipe.check(wl)
    pipe.prepare(wl)
    x = wl.dataset.x_test[:2]
    return wl, pipe, x, pipe.infer(x)


def test_real_tfhe_execution_matches_simulation(executed):
    _wl, pipe, x, out = executed
    simulated = pipe.module.forward(x.numpy(), fhe="simulate")
    assert out.shape == (2, 2)
    # Execution and simulation agree up to the circuit's bootstrapping error probability.
    assert (out.argmax(1).numpy() == simulated.argmax(1)).all()
    assert np.allclose(out.numpy(), simulated, atol=1e-5)
    sent = next(v for v in pipe.views() if v.layer == "input")
    assert sent.meta["weights"] == "plain"  # the server circuit holds the quantized weights
    assert sent.kind == "ciphertext" and len(sent.payload) == 2
    assert all(isinstance(b, bytes) and len(b) > 0 for b in sent.payload)
    m = pipe.metrics()
    assert m["keygen_s"] > 0 and m["eval_key_bytes"] > 0 and m["compile_s"] > 0
    assert m["node_eval_s_per_sample"] > 0 and m["pbs_count"] > 0
    # Per-sample units, as for CKKS: two samples, one ciphertext each.
    assert m["he_samples"] == 2
    assert m["bytes_up_per_sample"] == pytest.approx(np.mean([len(b) for b in sent.payload]))
    for key in ("encrypt_s_per_sample", "decrypt_s_per_sample", "bytes_down_per_sample"):
        assert m[key] > 0, key
    assert m["execute_vs_simulate_agreement"] == 1.0
    assert m["simulate_accuracy"] > 0.8


def test_the_estimator_check_is_skipped_under_a_harness_budget_and_said_so(executed):
    _wl, pipe, _x, _out = executed
    pipe.check_estimate, pipe.budget_s = True, 60.0
    try:
        m = pipe.metrics()
    finally:
        pipe.check_estimate, pipe.budget_s = False, None
    assert "estimate_latency_s" not in m and m["estimate_check"] == "skipped under harness.max_eval_s=60"


def test_node_output_is_unreadable_without_the_client_keys(executed):
    """Only the client's keys read the node's results: they give the circuit's answers (its simulation
    on the same quantized inputs); the same circuit under fresh secret keys reads something else.
    Two results, so that a stranger's random reading matches both only with negligible probability."""
    from concrete import fhe

    _wl, pipe, x, _out = executed
    circuit = pipe.module.fhe_circuit
    stranger = fhe.Client(circuit.client.specs)  # same circuit, fresh keys
    stranger.keygen()
    expected, ours, theirs = [], [], []
    for row in x[:2].numpy():
        blob = pipe.node.evaluate(pipe.client.encrypt(row[None]))
        expected.append(np.asarray(circuit.simulate(pipe.module.quantize_input(row[None]))))
        ours.append(np.asarray(circuit.decrypt(fhe.Value.deserialize(blob))))
        theirs.append(np.asarray(stranger.decrypt(fhe.Value.deserialize(blob))))
    expected, ours, theirs = np.stack(expected), np.stack(ours), np.stack(theirs)
    assert np.array_equal(ours, expected)  # the right keys read the right answers
    assert theirs.shape == expected.shape and not np.array_equal(theirs, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_bits": 1}, "n_bits=1"), ({"fhe": "gpu"}, "fhe='gpu'"), ({"p_error": 2.0}, "p_error=2.0"),
     ({"rounding_threshold_bits": 40}, "rounding_threshold_bits=40"), ({"fhe_samples": 0}, "fhe_samples=0")],
)
def test_bad_parameters_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TFHEPipeline(**kwargs)


@pytest.mark.slow
def test_simulate_accuracy_on_mlp_cancer_within_three_points(run):
    rec = run("workload=mlp_cancer", "technique=he_tfhe", "technique.fhe=simulate", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert rec.extra["float_accuracy"] - rec.extra["simulate_accuracy"] <= 0.03


@pytest.mark.slow
def test_minilm_is_unsupported_with_a_pbs_estimate(run):
    rec = run("workload=minilm", "technique=he_tfhe", "technique.mode=whole")
    assert rec.status == "unsupported" and rec.estimated
    assert rec.extra["est_pbs"] > 1e5 and rec.latency_p50_s > 0


def test_attention_is_unsupported_before_any_compilation(monkeypatch):
    """The reason comes from the model's own ops; the PBS timing is stubbed here only to keep it fast."""
    import nesabench.he.estimate as estimate

    wl = trained_workload("tiny_transformer")
    monkeypatch.setattr(estimate, "tfhe_neuron_cost", lambda n_bits, rounding: {"op_tfhe_neuron_s": 0.1})
    with pytest.raises(Unsupported, match="softmax") as err:
        TFHEPipeline(mode="whole").check(wl)
    est = err.value.estimate
    assert est["count_softmax_rows"] > 0 and est["est_pbs"] > est["count_softmax_elements"]
    assert est["latency_p50_s"] == pytest.approx(0.1 * est["est_lookups"])
    assert est["estimate_kind"] == "extrapolation"


@pytest.mark.parametrize(("name", "low", "high"), [
    ("mlp_cancer", 0.9, 1.1),
    pytest.param("cnn_digits", 0.8, 1.2, marks=pytest.mark.slow),
])
def test_bootstrap_model_matches_the_compiled_circuits_own_count(name, low, high):
    """The stated PBS model (used where nothing compiles) against Concrete's count where it does."""
    from nesabench.he.estimate import tfhe_pbs_model
    from nesabench.he.opcount import count_ops
    from nesabench.he.tfhe_compile import compile_model

    wl = trained_workload(name)
    module = compile_model(wl.copy_model(), wl.calibration().numpy(), 6, 6, None)
    compiled = module.fhe_circuit.programmable_bootstrap_count
    modelled = tfhe_pbs_model(count_ops(wl.model, wl.dataset.x_test[:1]), 6, 6)
    assert low <= modelled / compiled <= high, (modelled, compiled)


def test_rounding_method_auto_takes_approximate_only_above_the_pbs_threshold(tmp_path):
    """The 4-4-2 MLP needs 4 lookups x (1 + rounded bits) PBS by the stated model: exact under a
    threshold of 1000, approximate (Concrete ML's dict form) when the threshold is 0."""
    wl = tiny_workload(tmp_path)
    exact = TFHEPipeline(n_bits=6, rounding_threshold_bits=6, rounding_method="auto")
    assert exact._rounding(wl) == 6 and exact._rounding_used == "exact"
    approx = TFHEPipeline(n_bits=6, rounding_threshold_bits=6, rounding_method="auto",
                          approximate_above_pbs=0)
    assert approx._rounding(wl) == {"n_bits": 6, "method": "APPROXIMATE"}
    assert approx._rounding_used == "approximate"
    forced = TFHEPipeline(n_bits=6, rounding_threshold_bits=6, rounding_method="approximate")
    assert forced._rounding(wl) == {"n_bits": 6, "method": "APPROXIMATE"}
    assert TFHEPipeline(rounding_threshold_bits=None, rounding_method="approximate")._rounding(wl) is None
    with pytest.raises(ValueError, match="rounding_method"):
        TFHEPipeline(rounding_method="fast")


def test_p_error_reaches_concrete_and_the_record(tmp_path):
    """A raised p_error (Zama's speed lever) must reach Concrete's optimizer: the compiled circuit's
    per-PBS error probability follows it (Concrete ML's default is 2^-40, ~1e-12), and the record says
    what was asked for and what was compiled."""
    wl = tiny_workload(tmp_path)
    pipe = TFHEPipeline(n_bits=3, rounding_threshold_bits=3, p_error=0.05, fhe="simulate",
                        check_estimate=False)
    pipe.check(wl)
    pipe.prepare(wl)
    assert 1e-3 < pipe.module.fhe_circuit.p_error <= 0.05
    m = pipe.metrics()
    assert m["p_error_setting"] == "0.05 per PBS"
    assert m["circuit_p_error"] == pytest.approx(pipe.module.fhe_circuit.p_error)
    assert m["circuit_complexity"] > 0


def test_no_warm_up_executions_beyond_the_quality_pass(tmp_path):
    """Under the harness, real FHE runs only for the quality pass and the timed calls: the warm-up
    calls would be extra executions of a circuit the quality pass has already run."""
    from nesabench.config import HarnessConfig
    from nesabench.harness.runner import _measure
    from nesabench.records import Record

    wl = tiny_workload(tmp_path)
    pipe = TFHEPipeline(n_bits=3, rounding_threshold_bits=3, fhe="execute", fhe_samples=2, max_repeats=2,
                        check_estimate=False)
    assert TFHEPipeline(fhe="simulate").max_warmup is None
    harness = HarnessConfig(warmup=2, repeats=5, eval_samples=10, leakage=False, mia_shadows=0)
    record = Record(technique="he_tfhe", workload="blobs")
    _measure(harness, wl, pipe, record, "test")
    assert record.latency_n == 2
    assert pipe._stats.samples == 2 + 2  # quality pass (fhe_samples) + timed calls, no warm-up


def test_under_a_harness_budget_the_quality_pass_is_the_timing(tmp_path):
    """make table (harness.max_eval_s set): the quality pass's real executions are the timed calls,
    so no sample is encrypted and evaluated twice; the record says where the timing came from."""
    from nesabench.config import HarnessConfig
    from nesabench.harness.runner import _measure
    from nesabench.records import Record

    wl = tiny_workload(tmp_path)
    pipe = TFHEPipeline(n_bits=3, rounding_threshold_bits=3, fhe="execute", fhe_samples=2, max_repeats=3,
                        check_estimate=False)
    harness = HarnessConfig(warmup=2, repeats=5, eval_samples=10, leakage=False, mia_shadows=0,
                            max_eval_s=600.0)
    record = Record(technique="he_tfhe", workload="blobs")
    _measure(harness, wl, pipe, record, "test")
    assert pipe._stats.samples == 2  # the quality pass only
    assert record.latency_n == 2 and record.extra["timing_from_quality_pass"] is True
