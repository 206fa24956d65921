"""Attacks on what each untrusted party saw; ``suite.evaluate_leakage`` is what the harness calls.

Re-exports only, resolved lazily: importing one attack module (``nesabench.leakage.result``, say)
must not pull in the whole suite and its scientific stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluate_leakage": "nesabench.leakage.suite",
    "attacker_pairs": "nesabench.leakage.suite",
    "AttackResult": "nesabench.leakage.result",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nesabench.leakage' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
