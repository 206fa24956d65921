"""The README's "Adding a technique" example, copied from the README verbatim, runs through the CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import CACHE_DIR

ROOT = Path(__file__).resolve().parents[1]


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"### {title}")
    end = re.compile(r"^#{2,3} ", re.M).search(text, start + 4)
    return text[start:end.start() if end else len(text)]


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block; the first line of a file block names its path."""
    return re.findall(r"```(\w+)\n(.*?)```", text, re.S)


def test_adding_a_technique_example_runs_as_written(tmp_path) -> None:
    blocks = code_blocks(section("Adding a technique"))
    files = {code.splitlines()[0].lstrip("# ").strip(): code
             for lang, code in blocks if lang in ("python", "yaml")}
    assert set(files) == {"baselines/my_technique.py", "conf/technique/my_technique.yaml"}
    for rel, code in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(code)
    (tmp_path / "baselines" / "__init__.py").write_text("")  # this copy stands in for the project's
    (command,) = [code.strip() for lang, code in blocks if lang == "bash"]
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/nesabench"

    env = {**os.environ, "NESABENCH_RESULTS": str(tmp_path / "results"), "NESABENCH_CACHE": str(CACHE_DIR),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"

    def nesabench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nesabench.cli", *args, searchpath], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=600)

    proc = nesabench(*argv[1:])
    assert proc.returncode == 0, proc.stderr
    (path,) = (tmp_path / "results" / "runs").glob("*.json")
    rec = json.loads(path.read_text())
    assert rec["status"] == "ok" and rec["technique"] == "my_technique" and rec["param.strength"] == 2
    assert rec["accuracy"] >= 0.85 and rec["input_privacy"] is not None

    # what the README says about a misspelt parameter, with the same example
    typo = nesabench("workload=mlp_cancer", "technique=my_technique", "technique.strenght=4")
    assert typo.returncode == 2
    assert "technique my_technique has no parameter strenght; it accepts: strength" in typo.stderr
    assert len(list((tmp_path / "results" / "runs").glob("*.json"))) == 1
