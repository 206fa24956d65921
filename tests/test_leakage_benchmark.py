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
    by_queries = result["coordinate_matching"][0]["by_queries"]
    assert [r["queries"] for r in by_queries] == [4, 16, 64]
    # More observed queries, more of the key: the attack is real, not a lucky constant.
    assert by_queries[-1]["key_recovery_mean"] > by_queries[0]["key_recovery_mean"]
    assert by_queries[-1]["key_recovery_mean"] >= 0.8
    assert result["coordinate_matching"][0]["known_plaintext_one_query_key_recovery"] == 1.0
    assert result["vocabulary_matching"]["mapped_fraction"] >= 0.99
