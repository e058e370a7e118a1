"""`no_data_quality_regression` on the shipped samples, in time order: the decision (core/stats/quality.py)
fails a day with 15 % injected nulls in one column, with 10 % of a numerical column pushed out of the
reference's range, or with a new category in 10 % of its rows, and passes the quiet days; leaving each period
out of reference-sized windows of the grid-load (daily) and bike-sharing (weekly) samples and judging it
against the rest flags at most 9 % of them. The reference's side lives in the statistics' artifact (format 3;
an artifact of an older format is rebuilt, not refused); and through `dg.materialize` the check's evaluation is in
the instance with its per-column table, and the retrain sensor acts on it only when `retrain_on` lists it."""

from __future__ import annotations

import json
import math

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.intake.source import load_window
from drift_platform.core.names import CURRENT_BATCH, DRIFT_REPORT, NO_DATA_QUALITY_CHECK
from drift_platform.core.settings import DataQualitySettings
from drift_platform.core.stats.drift import column_kinds
from drift_platform.core.stats.quality import MISSING, OUTSIDE, UNSEEN, judge_period, reference_periods
from drift_platform.core.stats.reference_cache import POINTER_KEY, cached_stats, save_stats
from drift_platform.core.stats.reference_stats import (
    FORMAT,
    ReferenceStats,
    StatsFormatError,
    build_reference_stats,
)
from drift_platform_tests.conftest import (
    BIKE_SOURCE,
    BIKE_SPEC,
    GRID_SOURCE,
    GRID_SPEC,
    grid_monitor,
    local_resources,
    slack_alerter,
)
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform

QUIET_DAYS = [f"2011-02-0{d}" for d in range(1, 7)]  # grid_load.yaml: quiet, the reference's winter regime
FAULT_DAY = "2011-02-02"
MAX_FALSE_ALARMS = 0.09


@pytest.fixture(scope="module")
def grid() -> tuple[DatasetSpec, pd.DataFrame]:
    """The grid-load sample as the contract types it, in time order (two years of hours)."""
    spec = DatasetSpec.from_yaml(GRID_SPEC)
    frame, _ = load_window(str(GRID_SOURCE), spec, pd.Timestamp("2011-01-01"), pd.Timestamp("2013-01-01"))
    return spec, frame.sort_values(spec.datetime_column, ignore_index=True)


@pytest.fixture(scope="module")
def grid_reference(grid) -> ReferenceStats:
    """The statistics of the spec's reference window, as the drift report builds them (28 daily blocks)."""
    spec, frame = grid
    start, end = spec.reference_window
    reference = frame[(frame.timestamp >= start) & (frame.timestamp < end)].reset_index(drop=True)
    blocks = reference_periods(spec, "daily")
    return build_reference_stats(reference, column_kinds(spec), quality_blocks=blocks)


def day(frame: pd.DataFrame, first: str) -> pd.DataFrame:
    start = pd.Timestamp(first)
    within = (frame.timestamp >= start) & (frame.timestamp < start + pd.Timedelta(days=1))
    return frame[within].reset_index(drop=True)


def some_rows(frame: pd.DataFrame, share: float, seed: int) -> np.ndarray:
    """ceil(share x rows) distinct row positions, seeded."""
    return np.random.default_rng(seed).choice(len(frame), size=math.ceil(share * len(frame)), replace=False)


def failures(summary: dict) -> list[tuple[str, str]]:
    return [(row["column"], row["measure"]) for row in summary["table"] if not row["passed"]]


def test_quiet_days_pass_and_each_injected_fault_fails(grid, grid_reference) -> None:
    _, frame = grid
    settings = DataQualitySettings()
    assert reference_periods(grid[0], "daily") == grid_reference.quality.blocks == 28
    low, high = grid_reference.columns["temperature_c"].sorted_values[[0, -1]]
    for seed, first in enumerate(QUIET_DAYS):
        quiet = day(frame, first)
        assert len(quiet) == 24
        summary = judge_period(grid_reference, quiet, settings)
        assert summary["passed"], (first, summary["worst"])

        nulls = quiet.copy()
        nulls.loc[some_rows(quiet, 0.15, seed), "humidity"] = np.nan
        summary = judge_period(grid_reference, nulls, settings)
        assert failures(summary) == [("humidity", MISSING)], first
        assert summary["worst"]["period"] == pytest.approx(4 / 24) and summary["worst"]["bound"] < 0.05

        pushed = quiet.copy()
        pushed.loc[some_rows(quiet, 0.10, seed), "temperature_c"] = high + 0.05 * (high - low)
        summary = judge_period(grid_reference, pushed, settings)
        assert failures(summary) == [("temperature_c", OUTSIDE)], first
        assert summary["worst"]["period"] == pytest.approx(3 / 24)

        new_level = quiet.copy()
        new_level.loc[some_rows(quiet, 0.10, seed), "weather"] = "hail"
        summary = judge_period(grid_reference, new_level, settings)
        assert failures(summary) == [("weather", UNSEEN)], first
        assert summary["columns_failed"] == 1 and summary["failed_columns"] == ["weather"]


def test_one_missing_value_passes_a_column_never_missing_in_the_reference(grid, grid_reference) -> None:
    quiet = day(grid[1], QUIET_DAYS[0])
    assert grid_reference.quality.columns["humidity"].missing == 0
    one = quiet.copy()
    one.loc[3, "humidity"] = np.nan
    assert judge_period(grid_reference, one, DataQualitySettings())["passed"]
    one.loc[4, "humidity"] = np.nan
    assert failures(judge_period(grid_reference, one, DataQualitySettings())) == [("humidity", MISSING)]


def leave_one_period_out(frame: pd.DataFrame, kinds: dict, period_rows: int, reference_periods_: int
                         ) -> float:
    """Windows of reference + 1 periods of the sample (contiguous, in time order, not overlapping): each
    period is left out in turn, judged against statistics of the window's other periods (a reference of the
    real reference's size, in time order). The share of periods that fail."""
    settings, flagged, judged = DataQualitySettings(), 0, 0
    periods = len(frame) // period_rows
    for first in range(0, periods - reference_periods_, reference_periods_ + 1):
        window = [frame.iloc[(first + i) * period_rows:(first + i + 1) * period_rows].reset_index(drop=True)
                  for i in range(reference_periods_ + 1)]
        for i, held_out in enumerate(window):
            reference = pd.concat(window[:i] + window[i + 1:], ignore_index=True)
            stats = build_reference_stats(reference, kinds, sample_rows=10, workers=1,
                                          quality_blocks=reference_periods_)
            flagged += not judge_period(stats, held_out, settings)["passed"]
            judged += 1
    return flagged / judged


def test_leave_one_period_out_false_alarms(grid) -> None:
    spec, frame = grid
    grid_rate = leave_one_period_out(frame, column_kinds(spec), 24, reference_periods(spec, "daily"))
    bike_spec = DatasetSpec.from_yaml(BIKE_SPEC)
    bike, _ = load_window(str(BIKE_SOURCE), bike_spec, pd.Timestamp("2011-01-01"), pd.Timestamp("2013-01-01"))
    bike = bike.sort_values(bike_spec.datetime_column, ignore_index=True)
    bike_rate = leave_one_period_out(bike, column_kinds(bike_spec), 7, reference_periods(bike_spec, "weekly"))
    print(f"\nno_data_quality_regression, leave-one-period-out: grid_load (days) {grid_rate:.1%} flagged, "
          f"bike_sharing (weeks) {bike_rate:.1%} flagged")
    assert grid_rate <= MAX_FALSE_ALARMS and bike_rate <= MAX_FALSE_ALARMS


def test_the_artifact_keeps_the_quality_side_and_an_older_format_is_rebuilt(grid_reference, tmp_path) -> None:
    from drift_platform.resources.store import LocalObjectStore

    again = ReferenceStats.from_bytes(grid_reference.to_bytes())
    assert again == grid_reference and again.quality == grid_reference.quality
    assert again.quality.columns["weather"].blocks.shape == (28, 2)
    assert FORMAT == 3  # 3: the sample keeps its datetime (the multivariate null's periods)

    folder = LocalObjectStore(root=str(tmp_path)).scoped("m")
    save_stats(folder, grid_reference, {"rows": 672})
    assert cached_stats(folder, {"rows": 672}) == grid_reference
    pointer = json.loads(folder.read_bytes(POINTER_KEY))
    assert pointer["format"] == FORMAT
    folder.write_bytes(POINTER_KEY, json.dumps({k: v for k, v in pointer.items() if k != "format"}).encode())
    assert cached_stats(folder, {"rows": 672}) is None  # an older pointer (no format): rebuilt, not refused

    import io

    with np.load(io.BytesIO(grid_reference.to_bytes())) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    header = json.loads(arrays["header"].tobytes())
    arrays["header"] = np.frombuffer(json.dumps({**header, "format": 2}).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    with pytest.raises(StatsFormatError, match="format 2 is not supported"):
        ReferenceStats.from_bytes(out.getvalue())


def fault_source(tmp_path, frame: pd.DataFrame) -> str:
    """The grid sample with humidity missing in 4 of FAULT_DAY's 24 hours."""
    faulty = frame.copy()
    where = np.flatnonzero(faulty.timestamp.dt.strftime("%Y-%m-%d") == FAULT_DAY)[[2, 7, 13, 19]]
    faulty.loc[where, "humidity"] = np.nan
    path = tmp_path / "grid_with_fault.csv"
    faulty.to_csv(path, index=False)
    return str(path)


def check_record(instance: dg.DagsterInstance, platform: Platform):
    key = dg.AssetCheckKey(platform.key(DRIFT_REPORT), NO_DATA_QUALITY_CHECK)
    [record] = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    return record, record.event.dagster_event.event_specific_data


def materialize_fault_day(platform: Platform):
    """The day's batch and drift report with the data-quality check (the monitor's definitions, resources)."""
    keys = {platform.key(CURRENT_BATCH), platform.key(DRIFT_REPORT)}
    assets = [a for a in platform.defs.assets if isinstance(a, dg.AssetsDefinition) and a.keys <= keys]
    [check] = [c for c in platform.defs.asset_checks
               if {k.name for k in c.check_keys} == {NO_DATA_QUALITY_CHECK}]
    return dg.materialize([*assets, check], instance=platform.instance, partition_key=FAULT_DAY,
                          resources=platform.resources)


def test_through_materialize_the_evaluation_and_the_sensor(grid, tmp_path, instance,
                                                           slack: SlackRecorder) -> None:
    source = fault_source(tmp_path, grid[1])
    platform = Platform(local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0)), instance,
                        monitor=grid_monitor(source))
    result = materialize_fault_day(platform)
    assert result.success
    record, evaluation = check_record(instance, platform)
    assert record.status.value == "FAILED" and record.partition == FAULT_DAY
    assert evaluation.severity == dg.AssetCheckSeverity.WARN and not evaluation.passed
    meta = {key: value.value for key, value in evaluation.metadata.items()}
    table = meta["columns"].splitlines()
    assert [cell.strip() for cell in table[0].split("|")[1:-1]] == [
        "column", "measure", "reference", "period", "bound", "passed"]
    [humidity] = [line for line in table if "humidity" in line and "missing" in line]
    assert [cell.strip() for cell in humidity.split("|")[1:-1]] == ["humidity", "missing", "0.0 %", "16.7 %",
                                                                     "4.2 %", "NO"]
    assert (meta["columns_checked"], meta["columns_failed"], meta["failed_columns"]) == (5, 1, "humidity")
    assert (meta["worst_column"], meta["worst_measure"], meta["worst"]) == (
        "humidity", "missing", "humidity missing 16.7 % (bound 4.2 %)")
    report = result.asset_materializations_for_node(platform.op(DRIFT_REPORT))[0].metadata
    assert report["data_quality_columns_failed"].value == 1
    assert report["data_quality_max_missing"].value == pytest.approx(4 / 24)

    # Not in retrain_on (the default): settled, no retrain, no alert.
    tick = platform.tick()
    assert tick.run_requests == [] and slack.messages() == []
    assert "no_data_quality_regression evaluation since id" in tick.skip_reason.skip_message

    # Listed: one retrain and one alert with its own text.
    listed = Platform(platform.resources, instance, monitor=grid_monitor(
        source, retrain_on=["no_dataset_drift", "no_model_degradation", "no_data_quality_regression"]))
    [request] = listed.tick().run_requests
    assert request.tags["drift_platform/trigger"].endswith("data_quality")
    assert request.tags["drift_platform/period"] == FAULT_DAY
    [alert] = slack.messages()
    assert (f"*[grid_load] Data quality regression* in day {FAULT_DAY}: humidity missing 16.7 % (bound 4.2 %)"
            in alert["text"])
