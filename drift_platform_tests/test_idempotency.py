"""Repeats: a backfill of every sample week run twice, a week re-run N times, two runs of a week at once.
Each leaves the history equal to the reference plus each week once, by row count and content hash."""

from __future__ import annotations

import threading

import dagster as dg
import pandas as pd
import pytest

from drift_platform.lib.assets.ingestion import build_ingestion
from drift_platform_tests.conftest import local_resources
from drift_platform_tests.helpers import Platform

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def expected_history(source_frame: pd.DataFrame, weeks: list[str]) -> pd.DataFrame:
    """The reference window plus the given weeks, straight from the source."""
    when = source_frame["dteday"]
    keep = (when >= "2011-01-01") & (when < "2011-01-29")
    for week in weeks:
        start = pd.Timestamp(week)
        keep |= (when >= start) & (when < start + pd.Timedelta(days=7))
    return source_frame[keep].reset_index(drop=True)


def test_backfill_of_every_week_twice(tmp_path, instance, source_frame) -> None:
    platform = Platform(local_resources(tmp_path), instance)
    partitions = platform.defs.resolve_job_def("bike_sharing_drift_job").partitions_def
    weeks = [k for k in partitions.get_partition_keys() if k <= "2012-12-31"]
    assert len(weeks) == 101
    _, current_batch, combined_history = build_ingestion(platform.monitor, partitions)
    digests = []
    for _ in range(2):
        for week in weeks:
            dg.materialize([current_batch, combined_history], partition_key=week, instance=instance,
                           resources=platform.resources, run_config=QUIET_LOGS)
        history = platform.history()
        pd.testing.assert_frame_equal(history, expected_history(source_frame, weeks))
        digests.append(platform.history_hash())
    assert len(history) == 731 - 2  # every day but 2011-01-29/30, between the reference and the first week
    assert digests[0] == digests[1]


@pytest.mark.parametrize("week", ["2011-01-31", "2011-07-04", "2012-12-31"])
def test_rematerializing_a_week_n_times(week, tmp_path, instance, source_frame) -> None:
    platform = Platform(local_resources(tmp_path), instance)
    digests = set()
    for _ in range(3):
        platform.run_week(week, run_config=QUIET_LOGS)
        digests.add(platform.history_hash())
    assert len(digests) == 1
    pd.testing.assert_frame_equal(platform.history(), expected_history(source_frame, [week]))


def test_two_runs_of_the_same_week_at_once_on_sqlite(tmp_path, source_frame) -> None:
    warehouse_url = f"sqlite:///{tmp_path / 'shared.db'}"
    results: list = []
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        # Each racer disposes of its instance in its own thread (its in-memory SQLite may not be closed elsewhere).
        with dg.DagsterInstance.ephemeral() as instance:
            racer = Platform(local_resources(tmp_path / f"racer{i}", warehouse_url=warehouse_url), instance)
            barrier.wait()
            results.append(racer.run_week("2011-02-07", run_config=QUIET_LOGS, raise_on_error=False))

    racers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(300)
    assert [r.success for r in results] == [True, True]
    history = Platform(local_resources(tmp_path / "racer0", warehouse_url=warehouse_url),
                       dg.DagsterInstance.ephemeral()).history()
    pd.testing.assert_frame_equal(history, expected_history(source_frame, ["2011-02-07"]))
