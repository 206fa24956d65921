"""One stopwatch for step timings (setup, training, proving, ...): ``with Stopwatch() as sw: ...``.

Not for per-call latency: the harness's latency loop (``harness/timing.py``) reads the clock bare,
so that nothing but the call lies between two readings.
"""

from __future__ import annotations

import time
from types import TracebackType


class Stopwatch:
    """Wall time of a ``with`` block, from ``time.perf_counter``.

    ``seconds`` is the elapsed time so far while the block runs, and the block's duration after it.
    """

    def __init__(self) -> None:
        self._start: float | None = None
        self._stop: float | None = None

    def __enter__(self) -> Stopwatch:
        self._start, self._stop = time.perf_counter(), None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop = time.perf_counter()

    @property
    def seconds(self) -> float:
        if self._start is None:
            raise RuntimeError("Stopwatch.seconds read before the stopwatch started: use it in a with block")
        return (self._stop if self._stop is not None else time.perf_counter()) - self._start
