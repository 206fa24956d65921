"""The MiniLM permutation-attack benchmark runs end to end and writes what it measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_permutation_attack_benchmark_quick(tmp_path):
    out = tmp_path / "perm.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks/permutation_attack_minilm.py"), "--quick",
                    "--out", str(out)], check=True, cwd=ROOT, timeout=1200)
    result = json.loads(out.read_text())
    layer = result["coordinate_matching"][0]["by_domain"]
    inside, outside = layer["in_domain"]["by_queries"], layer["cross_domain"]["by_queries"]
    assert [r["queries"] for r in inside] == [r["queries"] for r in outside] == [4, 16, 64]
    # More observed queries, more of the key: the attack is real, not a lucky constant...
    assert inside[-1]["key_recovery_mean"] > inside[0]["key_recovery_mean"]
    assert inside[-1]["token_recovery_mean"] > inside[0]["token_recovery_mean"]
    # ...and it rests on the attacker's text resembling the victim's: both are reported side by side.
    assert inside[-1]["key_recovery_mean"] > outside[-1]["key_recovery_mean"]
    assert {r["domain"] for r in result["sorted_state_matching"]} == {"in_domain", "cross_domain"}
    assert result["coordinate_matching"][0]["known_plaintext_one_query_key_recovery"] == 1.0
    assert result["vocabulary_matching"]["mapped_fraction"] >= 0.99
    assert all((ROOT / p).exists() or Path(p).exists() for p in result["figure"])
