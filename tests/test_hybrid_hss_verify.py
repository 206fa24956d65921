"""Verification of the hybrid: Freivalds catches a wrong linear layer on shares, commitments bind,
replicas disagree under a cheater, and the harness records detection and false-alarm rates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nesabench.hybrid import freivalds, ring
from nesabench.hybrid import shares as S
from nesabench.hybrid.commitments import consensus, transcript_commitment
from nesabench.hybrid.program import Builder
from nesabench.hybrid.protocol import linear_share

F = 16


def compiled(layer: nn.Module):
    b = Builder(F)
    b.scale["x"] = F
    (b.linear if isinstance(layer, nn.Linear) else b.conv)("layer", "x", layer)
    op = b.ops[0]
    if hasattr(op, "prepare"):
        op.prepare()
    return op


@pytest.mark.parametrize("layer", [nn.Linear(24, 10), nn.Conv2d(2, 4, 3, padding=1)])
def test_freivalds_passes_honest_shares_and_catches_a_corrupted_product(layer):
    torch.manual_seed(0)
    op = compiled(layer)
    gen = ring.csprng()
    x = torch.randn(3, 24) if isinstance(layer, nn.Linear) else torch.randn(3, 2, 5, 5)
    xs = S.share(ring.encode(x, F), 2, gen)
    checks = freivalds.prepare_checks([op], 8, gen)
    for party, share in enumerate(xs):
        y = linear_share(op, share, party)
        assert freivalds.check(checks[0], share, y, party, 8, gen)
        bad = y.clone().reshape(-1)
        bad[5] += 1  # one unit in the last place of one element
        assert not freivalds.check(checks[0], share, bad.reshape(y.shape), party, 8, gen)
        # The node's own bias handling matters: node1 adding the bias is caught too.
        if party == 1 and op.bias is not None:
            assert not freivalds.check(checks[0], share, linear_share(op, share, 0), party, 8, gen)
    # The shares reconstruct the layer's output.
    total = S.reconstruct([linear_share(op, s, i) for i, s in enumerate(xs)])
    with torch.no_grad():
        assert torch.allclose(ring.decode(total, 2 * F), layer(x).double(), atol=1e-3)


def test_commitments_bind_and_consensus_flags_a_disagreeing_replica():
    io = [(torch.arange(6), torch.arange(3))]
    digest = transcript_commitment(io)
    assert transcript_commitment([(torch.arange(6), torch.arange(3))]) == digest
    assert transcript_commitment([(torch.arange(6), torch.arange(3) + 1)]) != digest
    assert consensus([digest, digest]) == (True, digest)
    assert consensus([digest, digest, "x"]) == (False, digest)


@pytest.mark.parametrize("replicas", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_harness_records_detection_of_every_tamper_mode_and_no_false_alarm(run, replicas):
    rec = run("workload=mlp_cancer", "technique=nesa_hybrid", "technique.ee=false",
              f"technique.replicas={replicas}", "technique.tamper.trials=2", "technique.honest_trials=2",
              "harness.eval_samples=8", "harness.repeats=2", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    d = {**vars(rec), **rec.extra}
    assert d["verified"] is True
    assert d["tamper_detection_rate"] >= 0.99
    for mode in ("noise", "flip", "skip", "stale"):
        assert d[f"tamper_detection_rate.{mode}"] == 1.0
    assert d["false_alarm_rate"] == 0.0
    assert d["freivalds_false_accept_bound"] == 2.0**-16
    assert d["fidelity_agreement"] >= 0.995


@pytest.mark.slow
def test_a_node_that_never_cheats_is_never_caught(run):
    rec = run("workload=mlp_cancer", "technique=nesa_hybrid", "technique.ee=false",
              "technique.tamper.probability=0.0", "technique.tamper.trials=1", "technique.honest_trials=1",
              "harness.eval_samples=4", "harness.repeats=1", "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert rec.tamper_detection_rate == 0.0
