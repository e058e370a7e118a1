"""drift_platform/instance/daemon.py: Dagster's daemon with the backfill daemon's loop set by DRIFT_BACKFILL_INTERVAL_SECONDS.
The loop's pick-up on the real stack: test_e2e_production.py::test_a_backfill_launched_after_another_is_picked_up_in_seconds."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from drift_platform.instance.daemon import (
    BACKFILL_INTERVAL_ENV,
    DEFAULT_BACKFILL_INTERVAL_SECONDS,
    backfill_interval,
)


def test_the_interval_comes_from_the_environment() -> None:
    assert backfill_interval({}) == DEFAULT_BACKFILL_INTERVAL_SECONDS == 5
    assert backfill_interval({BACKFILL_INTERVAL_ENV: " 12 "}) == 12
    for bad in ("0", "301", "2.5", "-3", "soon"):
        with pytest.raises(SystemExit, match=f"{BACKFILL_INTERVAL_ENV} must be a whole number .* got '{bad}'"):
            backfill_interval({BACKFILL_INTERVAL_ENV: bad})


class RecordedWaits(threading.Event):
    """A shutdown event that records how long the loop waits between iterations, without waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return False


def test_dagsters_backfill_loop_waits_the_interval_set_before_it_starts(monkeypatch) -> None:
    """What the entry point relies on: Dagster's backfill loop reads controller.DEFAULT_DAEMON_INTERVAL_SECONDS when
    it starts and waits that long less the iteration between iterations (an iteration that fails, here, too)."""
    from dagster._daemon import controller
    from dagster._daemon.backfill import execute_backfill_iteration_loop

    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", 7)
    shutdown = RecordedWaits()
    began = time.time()
    list(execute_backfill_iteration_loop(object(), logging.getLogger("test_daemon"), shutdown, until=began + 0.5))
    assert shutdown.waits and all(6.0 <= wait <= 7.0 for wait in shutdown.waits), shutdown.waits
