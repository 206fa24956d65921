"""Adding a technique is one Python file and one YAML: nothing else in the project changes."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from hydra import compose, initialize_config_dir

from nesabench.cli import CONF_DIR
from nesabench.harness.runner import run_experiment

TECHNIQUE = '''
"""A toy technique: the node gets the input with its features reversed (no protection at all)."""

import torch

from nesabench.pipeline import PartyView


class ReversedPipeline:
    def __init__(self, strength: int = 3):
        self.strength = strength

    def check(self, workload):
        pass

    def prepare(self, workload):
        self.model = workload.copy_model()

    def infer(self, x):
        self._sent = x.flip(-1)
        return self.model(self._sent.flip(-1))

    def views(self):
        return [PartyView("node", "plain_input", "input", self._sent)]

    def metrics(self):
        return {"my_strength": self.strength}
'''

YAML = """
name: my_technique
_target_: my_technique.ReversedPipeline
strength: 3
"""


def test_one_file_and_one_yaml_make_a_technique(tmp_path: Path, monkeypatch) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "technique" / "my_technique.yaml").write_text(textwrap.dedent(YAML))
    code = tmp_path / "code"
    code.mkdir()
    (code / "my_technique.py").write_text(TECHNIQUE)
    monkeypatch.syspath_prepend(str(code))
    from conftest import CACHE_DIR

    overrides = ["workload=mlp_cancer", "technique=my_technique", "technique.strength=4", "harness=quick",
                 "harness.leakage=false", f"paths.results_dir={tmp_path / 'results'}",
                 f"paths.cache_dir={CACHE_DIR}"]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    record = run_experiment(cfg, overrides=overrides)
    assert record.status == "ok", record.reason
    assert record.technique == "my_technique" and record.extra["my_strength"] == 4
    assert record.fidelity_agreement == 1.0 and record.accuracy_loss == 0.0
    assert record.view_kinds == "node:plain_input"
