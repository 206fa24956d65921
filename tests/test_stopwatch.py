"""The one stopwatch for step timings, on a fake clock (no real timing in tests)."""

from __future__ import annotations

import pytest

import nesabench.stopwatch as stopwatch
from nesabench.stopwatch import Stopwatch


def test_stopwatch_reads_the_block_duration_on_a_fake_clock(monkeypatch) -> None:
    ticks = iter([10.0, 10.5, 12.0, 99.0])
    monkeypatch.setattr(stopwatch.time, "perf_counter", lambda: next(ticks))
    with Stopwatch() as sw:  # starts at 10.0
        assert sw.seconds == 0.5  # running: elapsed so far (clock at 10.5)
    # stopped at 12.0: the duration stays fixed whatever the clock does afterwards
    assert sw.seconds == 2.0 and sw.seconds == 2.0


def test_stopwatch_stops_when_the_block_raises(monkeypatch) -> None:
    ticks = iter([1.0, 4.0])
    monkeypatch.setattr(stopwatch.time, "perf_counter", lambda: next(ticks))
    with pytest.raises(KeyError), Stopwatch() as sw:
        raise KeyError("boom")
    assert sw.seconds == 3.0


def test_reading_an_unstarted_stopwatch_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="with block"):
        _ = Stopwatch().seconds
