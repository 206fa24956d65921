"""`nesabench --help` names the app and opens with the commands a newcomer needs, then the groups."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_help_names_the_app_and_opens_with_the_commands() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "nesabench.cli", "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("nesabench: one trained model"), out[:200]
    assert "powered by Hydra" not in out and "Powered by Hydra" not in out
    commands = out[: out.index("== Config groups")]
    for command in ("make table", ".venv/bin/nesabench workload=mlp_cancer technique=plaintext harness=quick",
                    ".venv/bin/nesabench -m experiment=overhead_table", ".venv/bin/nesabench-report"):
        assert command in commands, command
    groups = out[out.index("== Config groups"):]
    techniques = sorted(p.stem for p in (ROOT / "conf" / "technique").glob("*.yaml"))
    assert f"technique: {', '.join(techniques)}" in groups
    assert "--hydra-help" in groups
