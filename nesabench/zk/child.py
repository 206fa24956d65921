"""Run one heavy EZKL call (key generation, proving) in a child process with a memory cap and a timeout.

Why a child: (1) the address-space cap turns "too large for this machine" into a clean error, and
the child's peak RSS is exactly that step's memory; (2) ezkl 23's Python binding holds the GIL while
halo2 proves, and its prover threads log through pyo3-log (which needs the GIL) when a lookup input
is outside the calibrated table ("value is OOR of lookup"): in-process that is a silent deadlock,
in a child it is a timeout with a reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CODE = """
import json, resource, sys, time
spec = json.loads(open(sys.argv[1]).read())
cap = int(spec["cap_gb"] * 2**30)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import ezkl
t0 = time.perf_counter()
ok = getattr(ezkl, spec["fn"])(*spec["args"], **spec["kwargs"])
seconds = time.perf_counter() - t0
open(sys.argv[2], "w").write(json.dumps({"ok": bool(ok), "seconds": seconds}))
"""


class ChildError(RuntimeError):
    """The child failed, ran out of its memory cap, or timed out; the message says which.

    ``machine_oom``: the kernel killed it (SIGKILL) below its cap, i.e. the machine ran out of memory
    (other processes too), not the cap: "does not fit the cap" would then be the wrong conclusion."""

    def __init__(self, message: str, machine_oom: bool = False) -> None:
        super().__init__(message)
        self.machine_oom = machine_oom


@dataclass(frozen=True)
class ChildResult:
    seconds: float  # the EZKL call alone, timed inside the child
    peak_rss_mb: float  # the child's peak resident memory


def failure_reason(timed_out: bool, returncode: int, timeout_s: float) -> tuple[str, bool]:
    """Why a child that wrote no result failed, and whether the machine (not the cap) ran out of memory:
    over its RLIMIT_AS cap an allocation fails inside the child (an abort, not SIGKILL), so a SIGKILL
    we did not send is the kernel's out-of-memory killer."""
    if timed_out:
        return (f"timed out after {timeout_s:g} s (in ezkl 23 a lookup input outside the calibrated range "
                "deadlocks the prover)"), False
    if returncode == -signal.SIGKILL:
        return (f"exit {returncode}, killed by the system below its cap (the kernel's out-of-memory killer: "
                "the machine ran out of memory)"), True
    return f"exit {returncode}", False


def run_ezkl(fn: str, args: list[str], kwargs: dict[str, Any], work_dir: Path, cap_gb: float,
             timeout_s: float) -> ChildResult:
    """``ezkl.<fn>(*args, **kwargs)`` in a child capped at ``cap_gb`` of address space."""
    spec, out, log = (work_dir / f"child-{fn}.{suffix}" for suffix in ("json", "out.json", "log"))
    spec.write_text(json.dumps({"fn": fn, "args": args, "kwargs": kwargs, "cap_gb": cap_gb}))
    out.unlink(missing_ok=True)
    timed_out = False
    with log.open("wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-c", _CODE, str(spec), str(out)], stdout=log_file,
                                stderr=log_file)
        deadline = time.monotonic() + timeout_s
        while True:  # wait4, not wait: it also returns the child's resource usage (peak RSS)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 1024
    tail = log.read_text(errors="replace")[-300:].strip()
    if timed_out or not out.exists():
        why, machine_oom = failure_reason(timed_out, proc.returncode, timeout_s)
        raise ChildError(f"ezkl {fn} in a child capped at {cap_gb:g} GB failed: {why}, peak RSS "
                         f"{peak:.0f} MB; {tail}", machine_oom=machine_oom)
    result = json.loads(out.read_text())
    if not result["ok"]:
        raise ChildError(f"ezkl {fn} returned False; {tail}")
    return ChildResult(float(result["seconds"]), peak)

