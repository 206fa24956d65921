"""tee_sim: attestation and sealing refuse what they must, paging follows secure memory, traces leak."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
import torch
from conftest import compose_config, trained_workload
from omegaconf import OmegaConf

from baselines.tee_sim import TEESimPipeline
from nesabench.build import ConfigError
from nesabench.config import validate
from nesabench.tee.profile import HardwareProfile
from nesabench.tee.sealing import (
    CLIENT_TO_ENCLAVE,
    ENCLAVE_TO_CLIENT,
    Channel,
    MonotonicCounter,
    RollbackError,
    SealingError,
    open_state,
    seal_state,
)
from nesabench.tee.tamper import TAMPER_CASES


def profile(name: str, **changes) -> dict:
    cfg = compose_config(["technique=tee_sim", f"technique/profile={name}"])
    return {**OmegaConf.to_container(cfg.technique.profile), **changes}


@pytest.fixture(scope="module")
def cancer_tee() -> TEESimPipeline:
    wl = trained_workload("mlp_cancer")
    pipe = TEESimPipeline(profile("sgx1_128mb"), runtime_mb=1)
    pipe.prepare(wl)
    for i in range(3):
        pipe.infer(wl.dataset.x_test[i : i + 2])
        pipe.views()
    return pipe


def test_outputs_are_the_models_own(cancer_tee: TEESimPipeline) -> None:
    wl = trained_workload("mlp_cancer")
    x = wl.dataset.x_test[:5]
    assert torch.equal(cancer_tee.infer(x), wl.model(x))


def test_honest_enclave_verifies(cancer_tee: TEESimPipeline) -> None:
    res = cancer_tee.verify(None)
    assert res.verified, res.detail


@pytest.mark.parametrize("case", TAMPER_CASES)
def test_each_tamper_case_is_refused(cancer_tee: TEESimPipeline, case: str) -> None:
    res = cancer_tee.verify(case)
    assert not res.verified
    expected = {"weights": "measurement", "code": "measurement", "forged_quote": "signature",
                "replayed_quote": "challenge", "rollback": "monotonic counter"}[case]
    assert expected in res.detail, res.detail
    assert cancer_tee.verify(None).verified  # the honest path still works afterwards


def test_rollback_is_caught_by_the_counter_not_the_cipher() -> None:
    key, counter = secrets.token_bytes(32), MonotonicCounter()
    old = seal_state(key, {"queries_served": 1}, counter.increment())
    new = seal_state(key, {"queries_served": 9}, counter.increment())
    assert open_state(key, new, counter)["queries_served"] == 9
    assert open_state(key, old, None)["queries_served"] == 1  # authentic: AES-GCM alone accepts it
    with pytest.raises(RollbackError):
        open_state(key, old, counter)
    with pytest.raises(SealingError):
        open_state(secrets.token_bytes(32), new, counter)


def test_sealed_blobs_open_only_with_the_session_key() -> None:
    key = secrets.token_bytes(32)
    client = Channel(key, CLIENT_TO_ENCLAVE, ENCLAVE_TO_CLIENT)
    enclave = Channel(key, ENCLAVE_TO_CLIENT, CLIENT_TO_ENCLAVE)
    stranger = Channel(secrets.token_bytes(32), ENCLAVE_TO_CLIENT, CLIENT_TO_ENCLAVE)
    blob = client.seal(b"the patient's record")
    assert b"patient" not in blob
    with pytest.raises(SealingError, match="authentication"):
        stranger.open(blob)
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(SealingError):
        enclave.open(bytes(flipped))
    assert enclave.open(blob) == b"the patient's record"
    with pytest.raises(SealingError, match="replayed"):
        enclave.open(blob)
    second = client.seal(b"the patient's record")
    assert second != blob  # per-message nonce: equal plaintexts, different blobs
    assert enclave.open(second) == b"the patient's record"


def test_host_views_carry_no_plaintext(cancer_tee: TEESimPipeline) -> None:
    x = trained_workload("mlp_cancer").dataset.x_test[:1]
    cancer_tee.infer(x)
    raw = x.numpy().tobytes()
    for v in cancer_tee.views():
        assert v.party == "host" and v.kind in ("sealed_blob", "access_trace")
        if v.kind == "sealed_blob":
            assert all(raw[:16] not in b for b in v.payload)


def _swapped_after_warmup(prof: dict, runtime_mb: float) -> tuple[float, float]:
    wl = trained_workload("mlp_cancer")
    pipe = TEESimPipeline(prof, runtime_mb=runtime_mb)
    pipe.prepare(wl)
    for i in range(4):
        pipe.infer(wl.dataset.x_test[i : i + 1])
    m = pipe.metrics()
    return m["working_set_mb"], m["epc_pages_swapped"]


def test_pages_when_and_only_when_the_working_set_exceeds_secure_memory() -> None:
    # A 100 MB runtime makes the working set ~100 MB: above SGX1's 93 MB usable, far below SGX2's EPC.
    ws, swapped_sgx1 = _swapped_after_warmup(profile("sgx1_128mb"), runtime_mb=100)
    assert ws > 93 and swapped_sgx1 > 0
    ws, swapped_sgx2 = _swapped_after_warmup(profile("sgx2_large"), runtime_mb=100)
    assert swapped_sgx2 == 0
    # Just above and just below the working set, on the same profile.
    _, fits = _swapped_after_warmup(profile("sgx1_128mb", usable_epc_mb=2.1), runtime_mb=2)
    _, overflows = _swapped_after_warmup(profile("sgx1_128mb", usable_epc_mb=1.9), runtime_mb=2)
    assert fits == 0 and overflows > 0


def test_minilm_embedding_traces_differ_for_different_tokens() -> None:
    wl = trained_workload("minilm")
    pipe = TEESimPipeline(profile("sgx2_large"), runtime_mb=0)
    pipe.prepare(wl)
    ids = wl.dataset.x_test[:2]
    assert not torch.equal(ids[0], ids[1])
    traces = []
    for i in range(2):
        pipe.infer(ids[i : i + 1])
        view = next(v for v in pipe.views() if v.layer.endswith("word_embeddings"))
        traces.append(np.asarray(view.payload[0]))
    assert len(traces[0]) == ids.shape[1]  # one page per position: the controlled channel
    assert not np.array_equal(traces[0], traces[1])
    same = (ids[0] == ids[1]).numpy()
    assert np.array_equal(traces[0][same], traces[1][same])  # the same token, the same page


def test_profile_keys_are_checked() -> None:
    with pytest.raises(ConfigError, match="accepts"):
        HardwareProfile.from_config({**profile("tdx"), "epc_gb": 1})
    with pytest.raises(ConfigError, match="usable_epc_mb"):
        HardwareProfile.from_config(profile("sgx1_128mb", usable_epc_mb=200))


@pytest.mark.parametrize("name", ["sgx1_128mb", "sgx2_large", "tdx", "h100_cc"])
def test_profiles_compose_and_validate(name: str) -> None:
    cfg = compose_config(["technique=tee_sim", f"technique/profile={name}"])
    validate(cfg)
    assert HardwareProfile.from_config(OmegaConf.to_container(cfg.technique.profile)).name == name


def test_full_run_on_mlp_cancer(run) -> None:
    rec = run("workload=mlp_cancer", "technique=tee_sim", "technique/profile=sgx2_large").to_dict()
    assert rec["status"] == "ok", rec["reason"]
    assert rec["tamper_detection_rate"] == 1.0 and rec["verified"] is True
    assert len(rec["tamper_cases"].split()) == 5
    assert rec["fidelity_max_abs_err"] == 0.0
    assert rec["profile"] == "sgx2_large" and rec["epc_pages_swapped"] == 0
    assert rec["modeled_overhead_s"] > 0 and rec["latency_p50_s"] > 0
    assert "host:sealed_blob" in rec["view_kinds"] and "host:access_trace" in rec["view_kinds"]


@pytest.mark.parametrize(("name", "traced"), [("sgx1_128mb", True), ("h100_cc", False)])
def test_page_trace_is_a_view_only_where_the_host_owns_the_page_tables(name: str, traced: bool) -> None:
    wl = trained_workload("mlp_cancer")
    pipe = TEESimPipeline(profile(name), runtime_mb=0)
    pipe.prepare(wl)
    pipe.infer(wl.dataset.x_test[:1])
    kinds = {v.kind for v in pipe.views()}
    assert ("access_trace" in kinds) is traced and "sealed_blob" in kinds
