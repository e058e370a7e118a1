"""Step outputs are stored as Parquet or JSON and never unpickled: what passes between a monitor's steps sits in the
same store others may write to (resources/io_manager.py)."""

from __future__ import annotations

import pickle

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drift_platform.resources.io_manager import UnsafeStoredObjectError, dump_bytes, load_bytes
from drift_platform_tests.conftest import bike_monitor, local_resources
from drift_platform_tests.helpers import Platform

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def test_frames_and_summaries_round_trip_with_their_types() -> None:
    frame = pd.DataFrame({
        "when": pd.date_range("2011-01-03", periods=4, freq="D", tz="Europe/London"),
        "count": np.array([1, 2, 3, 4], dtype="int64"),
        "temp": [0.5, np.nan, 1.5, 2.5],
        "weather": pd.Categorical(["clear", "rain", None, "clear"]),
        "note": ["a", None, "c", "d"],
    }, index=pd.Index([10, 11, 12, 13], name="row"))
    back = load_bytes(dump_bytes(frame), "frame")
    pd.testing.assert_frame_equal(back, frame)

    summary = {"period": "2011-01-03", "share": np.float64(0.25), "drifted": np.bool_(True), "n": np.int64(3),
               "columns": {"temp": {"p": 0.01, "nan": float("nan")}}, "list": (1, 2), "none": None,
               "when": pd.Timestamp("2011-01-03")}
    back = load_bytes(dump_bytes(summary), "summary")
    assert back["share"] == 0.25 and back["drifted"] is True and back["n"] == 3 and back["list"] == [1, 2]
    assert np.isnan(back["columns"]["temp"]["nan"]) and back["none"] is None and back["when"] == "2011-01-03T00:00:00"
    with pytest.raises(TypeError, match="stored neither as Parquet nor as JSON"):
        dump_bytes({"model": object()})


class _Payload:
    """Unpickling this writes a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_where_a_step_output_is_stored_is_refused_and_runs_no_code(tmp_path) -> None:
    marker = tmp_path / "pwned"
    crafted = pickle.dumps(_Payload(str(marker)))
    with pytest.raises(UnsafeStoredObjectError, match="a pickle"):
        load_bytes(crafted, "current_batch/2011-06-06")
    assert not marker.exists()

    # The same through a real run: the week's batch stored by the drift job, replaced by the crafted pickle, then
    # the drift report alone for that week loads it.
    with dg.instance_for_test() as instance:
        platform = Platform(local_resources(tmp_path), instance, bike_monitor())
        platform.run_week("2011-06-06", run_config=QUIET_LOGS)
        [stored] = (tmp_path / "io").rglob("current_batch/2011-06-06")
        assert stored.read_bytes().startswith(b"DRIFTIO1 parquet")
        stored.write_bytes(crafted)
        result = platform.job("drift_job").execute_in_process(
            instance=instance, partition_key="2011-06-06", run_config=QUIET_LOGS, raise_on_error=False,
            asset_selection=[platform.key("drift_report")])
    assert not result.success and not marker.exists()
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "current_batch/2011-06-06 is a pickle" in str(failure.event_specific_data.error)
    assert "Re-materialize" in str(failure.event_specific_data.error)
