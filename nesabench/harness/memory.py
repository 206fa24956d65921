"""Peak resident memory of this process and its children, sampled in a background thread.

RSS, not tracemalloc: HE and ZK libraries allocate outside Python's allocator, and node processes
of multi-party techniques are children. Never active while latency is being timed.
"""

from __future__ import annotations

import contextlib
import threading

import psutil


def rss_bytes(proc: psutil.Process) -> int:
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


MIB = 2**20
#: How often RSS is sampled: often enough to catch short peaks, rarely enough to cost nothing.
SAMPLE_INTERVAL_S = 0.005


class PeakMemory:
    """Context manager: ``peak_mb`` (absolute) and ``delta_mb`` (above the level at entry)."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S):
        self.interval_s = interval_s
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self.start_bytes = self.peak_bytes = 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_bytes = max(self.peak_bytes, rss_bytes(self._proc))

    def __enter__(self) -> PeakMemory:
        self.start_bytes = self.peak_bytes = rss_bytes(self._proc)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, rss_bytes(self._proc))

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / MIB

    @property
    def delta_mb(self) -> float:
        return (self.peak_bytes - self.start_bytes) / MIB
