"""How a failed EZKL child is explained: the cap, the machine, or a timeout."""

from __future__ import annotations

import signal

import pytest

from nesabench.zk.child import ChildError, failure_reason, run_ezkl


def test_a_sigkill_is_the_machine_running_out_of_memory_not_the_cap() -> None:
    why, machine_oom = failure_reason(False, -signal.SIGKILL, 60)
    assert machine_oom and "out-of-memory killer" in why
    # over the RLIMIT_AS cap an allocation fails inside the child: an abort, not the machine
    why, machine_oom = failure_reason(False, -signal.SIGABRT, 60)
    assert not machine_oom and why == f"exit {-signal.SIGABRT}"
    why, machine_oom = failure_reason(True, -signal.SIGKILL, 60)  # we killed it on the deadline
    assert not machine_oom and "timed out after 60 s" in why


def test_a_child_over_its_cap_fails_with_a_named_reason_and_its_peak(tmp_path) -> None:
    with pytest.raises(ChildError) as info:  # importing ezkl alone needs more than 50 MB of address space
        run_ezkl("gen_srs", [str(tmp_path / "kzg"), "4"], {}, tmp_path, cap_gb=0.05, timeout_s=60)
    assert "capped at 0.05 GB failed" in str(info.value) and "peak RSS" in str(info.value)
    assert not info.value.machine_oom
