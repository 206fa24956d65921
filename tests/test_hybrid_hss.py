"""HSS: shares over Z_2^64 reconstruct exactly and look uniform alone; Beaver products and truncation
are right; node processes agree with plaintext and are always torn down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from conftest import trained_workload

from nesabench.hybrid import ring
from nesabench.hybrid import shares as S
from nesabench.hybrid.program import compile_model, run_plain
from nesabench.leakage.shares import bit_uniformity, distinguishing_game

F = 16


def node_children() -> list[psutil.Process]:
    me = psutil.Process()
    kids = [p for p in me.children(recursive=True) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    # multiprocessing's resource tracker lives as long as the test process; node processes are spawned.
    return [c for c in (" ".join(p.cmdline()) for p in kids) if "resource_tracker" not in c]


@pytest.mark.parametrize("parties", [2, 3, 5])
def test_all_shares_reconstruct_exactly(parties):
    gen = ring.csprng()
    x = torch.randn(64, 7, dtype=torch.float64) * 100
    enc = ring.encode(x, F)
    parts = S.share(enc, parties, gen)
    assert torch.equal(S.reconstruct(parts), enc)
    assert not torch.equal(S.reconstruct(parts[:-1]), enc)
    assert torch.allclose(ring.decode(S.reconstruct(parts), F), x, atol=2**-F)


def test_one_share_is_uniform_and_hides_which_input():
    gen = ring.csprng()
    x0 = torch.zeros(32, dtype=torch.float64)
    x1 = torch.full((32,), 1000.0, dtype=torch.float64)
    one = torch.stack([S.share(ring.encode(x1, F), 2, gen)[1] for _ in range(200)])
    assert bit_uniformity(one.numpy()).leakage == 0.0

    def share_fn(x: np.ndarray) -> np.ndarray:
        return S.share(ring.encode(torch.from_numpy(x), F), 2, gen)[1].numpy()

    game = distinguishing_game(share_fn, x0.numpy(), x1.numpy(), trials=300)
    assert game.leakage == 0.0
    # The test can fail: a share with a narrow mask is told apart at once.
    narrow = torch.stack([ring.encode(x1, F) + torch.randint(0, 2**8, (32,)) for _ in range(200)])
    assert bit_uniformity(narrow.numpy()).leakage > 0.5


@pytest.mark.parametrize("parties", [2, 3])
def test_beaver_products_match_plaintext(parties):
    gen = ring.csprng()
    x, y = torch.randn(4, 2, 5, 6, dtype=torch.float64), torch.randn(4, 2, 6, 3, dtype=torch.float64)
    xs, ys = S.share(ring.encode(x, F), parties, gen), S.share(ring.encode(y, F), parties, gen)
    triples = S.deal_triples(tuple(x.shape), tuple(y.shape), parties, gen)
    masked = [S.beaver_masked(a, b, t) for a, b, t in zip(xs, ys, triples, strict=True)]
    e = S.reconstruct([m[0] for m in masked])
    f = S.reconstruct([m[1] for m in masked])
    z = [S.beaver_product(e, f, t, i) for i, t in enumerate(triples)]
    assert torch.allclose(ring.decode(S.reconstruct(z), 2 * F), x @ y, atol=1e-3)  # fixed-point encoding


@pytest.mark.parametrize("parties", [2, 3, 5])
def test_truncation_pairs_drop_fraction_bits_within_one_unit(parties):
    gen = ring.csprng()
    bound = 46
    x = torch.randn(20000, dtype=torch.float64) * 1000  # |x| < 2^14 at 2f = 32 bits
    xs = S.share(ring.encode(x, 2 * F), parties, gen)
    pairs = S.deal_trunc_pairs(tuple(x.shape), F, parties, gen)
    masked = [S.trunc_masked(s, p, i, bound) for i, (s, p) in enumerate(zip(xs, pairs, strict=True))]
    c = S.reconstruct(masked)
    out = [S.trunc_finish(c, p, i, F, bound) for i, p in enumerate(pairs)]
    err = S.reconstruct(out) - (ring.encode(x, 2 * F) >> F)
    assert set(err.unique().tolist()) <= {0, 1}  # wraps corrected: at most one unit in the last place
    assert torch.allclose(ring.decode(S.reconstruct(out), F), x, atol=2 * 2**-F)
    assert bool((c < 0).any()) and bool((c >= 0).any())  # the opening spans the whole ring (wraps occur)


def test_truncation_opening_is_uniform_and_hides_which_input():
    """What the nodes open in a truncation (c = x + offset + r) passes the 64-bit uniformity test and
    the distinguishing game between two very different inputs stays at chance."""
    gen = ring.csprng()

    def opened(x: np.ndarray) -> np.ndarray:
        t = ring.encode(torch.from_numpy(x), 2 * F)
        xs = S.share(t, 2, gen)
        pairs = S.deal_trunc_pairs(tuple(t.shape), F, 2, gen)
        return S.reconstruct([S.trunc_masked(s, p, i, 46)
                              for i, (s, p) in enumerate(zip(xs, pairs, strict=True))]).numpy()

    x0, x1 = np.zeros(32), np.full(32, 1000.0)
    assert bit_uniformity(np.stack([opened(x1) for _ in range(200)])).leakage == 0.0
    assert distinguishing_game(opened, x0, x1, trials=300).leakage == 0.0


def test_limb_linear_map_is_exact():
    gen = ring.csprng()
    x = ring.uniform((3, 2, 6, 6), gen)
    w = torch.randint(-2**20, 2**20, (4, 2, 3, 3))
    out = ring.linear_map(x, lambda t: torch.nn.functional.conv2d(t, w.double(), padding=1),
                          float(w.abs().flatten(1).sum(1).max()))
    # Reference: the same convolution as an int64 matmul over unfolded patches (wraps mod 2^64).
    cols = torch.nn.functional.pad(x, (1, 1, 1, 1)).unfold(2, 3, 1).unfold(3, 3, 1)  # b c h w 3 3
    ref = torch.einsum("bchwij,ocij->bohw", cols, w)
    assert torch.equal(out, ref)


@pytest.mark.parametrize("name", ["mlp_cancer", "cnn_digits", "tiny_transformer"])
def test_program_matches_model(name):
    w = trained_workload(name)
    x = w.dataset.x_test[:16]
    with torch.no_grad():
        ref, out = w.model.eval()(x).double(), run_plain(compile_model(w.model, F), x)
    assert (out - ref).abs().max() < 1e-2


@pytest.mark.parametrize(("workload", "nodes", "nonlinear", "extra"), [
    ("mlp_cancer", 2, "client", "technique.ee=false"),
    pytest.param("mlp_cancer", 3, "reveal_permuted", "technique.ee=true", marks=pytest.mark.slow),
    pytest.param("cnn_digits", 2, "client", "technique.ee=true", marks=pytest.mark.slow),
    pytest.param("tiny_transformer", 2, "client", "technique.ee=true", marks=pytest.mark.slow),
    ("tiny_transformer", 3, "reveal_permuted", "technique.ee=true"),
    ("tiny_transformer", 2, "client", "technique.weights=shared"),
    ("tiny_transformer", 2, "client", "technique.attention=client")])
def test_nodes_agree_with_plaintext_and_leave_nothing(run, workload, nodes, nonlinear, extra):
    rec = run(f"workload={workload}", "technique=nesa_hss", extra, f"technique.nodes={nodes}",
              f"technique.nonlinear={nonlinear}", "harness.eval_samples=16", "harness.repeats=2",
              "harness.leakage=false")
    assert rec.status == "ok", rec.reason
    assert rec.fidelity_agreement >= 0.995
    assert rec.fidelity_max_abs_err < 0.05
    d = {**vars(rec), **rec.extra}
    assert d["rounds.node0"] > 0 and d["bytes_sent.node0"] > 0 and d["bytes_recv.client"] > 0
    assert d["client_flops_fraction"] > 0 if nonlinear == "client" else d["client_flops_fraction"] == 0
    import gc

    gc.collect()
    assert not node_children()


def test_single_node_learns_nothing_all_nodes_together_recover_the_input(run):
    rec = run("workload=mlp_cancer", "technique=nesa_hss", "technique.ee=false", "technique.nodes=2",
              "technique.nonlinear=client", "harness.repeats=1")
    assert rec.status == "ok", rec.reason
    d = {**vars(rec), **rec.extra}
    assert d["leakage.node0.input_privacy"] >= 0.95 and d["leakage.node1.input_privacy"] >= 0.95
    assert d["leakage.collusion_1_of_2.input_privacy"] >= 0.95
    assert d["leakage.collusion_2_of_2.input_privacy"] <= 0.5


def test_a_failing_node_fails_the_run_and_every_process_goes(run):
    rec = run("workload=mlp_cancer", "technique=nesa_hss", "technique.ee=false", "technique.nodes=3",
              "technique.fault=[1,2]", "harness.leakage=false")
    assert rec.status == "failed"
    assert "node1" in rec.reason and "injected fault" in rec.reason
    import gc

    gc.collect()
    assert not node_children()


@pytest.mark.slow
def test_ctrl_c_leaves_no_node_behind(tmp_path: Path):
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from conftest import trained_workload
        from nesabench.hybrid.nesa_hss import NesaHSSPipeline

        if __name__ == "__main__":
            p = NesaHSSPipeline(nodes=3, ee=False)
            p.prepare(trained_workload("mlp_cancer"))
            print("ready", flush=True)
            while True:
                p.infer(trained_workload("mlp_cancer").dataset.x_test[:1])
                time.sleep(0.01)
    """))
    here = Path(__file__)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parents[1]), str(here.parent)])}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            env=env, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        kids = psutil.Process(proc.pid).children(recursive=True)
        assert len(kids) >= 3
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE
                                                  for k in kids):
            time.sleep(0.2)
        assert not [k for k in kids if k.is_running() and k.status() != psutil.STATUS_ZOMBIE]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_nodes_started_by_hand_join_a_remote_client_and_exit_cleanly():
    """launch: remote: the same node entry point another machine would run, given the master address."""
    from nesabench.hybrid.nesa_hss import NesaHSSPipeline
    from nesabench.hybrid.nodes import free_port

    port = free_port("127.0.0.1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), *sys.path])}
    node = [sys.executable, "-m", "nesabench.hybrid.nodes", "--world", "3", "--master-addr", "127.0.0.1",
            "--master-port", str(port)]
    procs = [subprocess.Popen([*node, "--rank", str(r)], env=env) for r in (1, 2)]
    try:
        w = trained_workload("mlp_cancer")
        p = NesaHSSPipeline(nodes=2, ee=False, launch="remote", master_port=port)
        p.prepare(w)
        x = w.dataset.x_test[:8]
        with torch.no_grad():
            assert (p.infer(x) - w.model(x)).abs().max() < 0.01
        p.close()
        assert [q.wait(60) for q in procs] == [0, 0]
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
