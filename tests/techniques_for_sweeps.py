"""Techniques for the sweep tests: plaintext whose setup takes a while, like a real keygen."""

from __future__ import annotations

import time

from baselines.plaintext import PlaintextPipeline


class SlowSetupPipeline(PlaintextPipeline):
    """Plaintext after ``setup_s`` seconds of waiting in ``prepare``: a sweep of these is still
    running when the test looks at it, so a worker can be killed between two cells' records."""

    def __init__(self, setup_s: float = 2.0) -> None:
        super().__init__()
        self.setup_s = setup_s

    def prepare(self, workload) -> None:
        time.sleep(self.setup_s)
        super().prepare(workload)


class SlowInferPipeline(PlaintextPipeline):
    """Plaintext taking at least ``infer_s`` seconds a call, like an encrypted inference."""

    def __init__(self, infer_s: float = 0.2) -> None:
        super().__init__()
        self.infer_s = infer_s

    def infer(self, x):
        time.sleep(self.infer_s)
        return super().infer(x)
