"""Techniques for the CLI tests: one that logs like a chatty third-party library."""

from __future__ import annotations

import logging

from baselines.plaintext import PlaintextPipeline

#: What EZKL logs (through pyo3-log) about 200 times per zk_ezkl run.
CHATTY_LINE = "loaded verification key ✅"


class ChattyPipeline(PlaintextPipeline):
    """Plaintext, plus 50 INFO lines on the ``ezkl.pfsys`` logger while preparing."""

    def prepare(self, workload) -> None:
        for _ in range(50):
            logging.getLogger("ezkl.pfsys").info(CHATTY_LINE)
        super().prepare(workload)
