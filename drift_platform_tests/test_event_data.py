"""Event data as sources write it: many rows per timestamp, rows identified by a key, timestamps with offsets
or in a declared format, column names as an export writes them.

The shipped `football` monitor (60 matches a weekend, ~8 sharing each kickoff, key `Match ID`, ISO 8601 kickoffs
with their offset, columns such as "Home Team" and "Temp (°C)") goes through drift, history, predictions, the
quality check and a retrain; a synthetic event table is written in every timestamp form and gives the same rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.intake.contract import DataContractError, conform, parse_datetimes
from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import Monitor
from drift_platform_tests.conftest import REPO, local_resources
from drift_platform_tests.helpers import Platform, check_evaluations, step_failure_message

FOOTBALL_SPEC = REPO / "data" / "football.yaml"
FOOTBALL_SOURCE = REPO / "data" / "football_matches.csv"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def football_monitor(source: str | Path = FOOTBALL_SOURCE, **attributes) -> Monitor:
    defaults = {"name": "football", "spec": DatasetSpec.from_yaml(FOOTBALL_SPEC), "source": str(source),
                "cadence": "weekly", "timezone": "Europe/London", "retry": {"delay_seconds": 0.5},
                "gate": {"min_eval_rows": 60, "min_fit_rows": 120}}
    return Monitor.model_validate({**defaults, **attributes})


@pytest.fixture(scope="module")
def matches() -> pd.DataFrame:
    """The source as an export writes it (its own column names, kickoffs as strings)."""
    return pd.read_csv(FOOTBALL_SOURCE, dtype=str)


def kickoffs(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["Kickoff"], utc=True).dt.tz_convert("Europe/London").dt.tz_localize(None)


def delivered(matches: pd.DataFrame, week: str) -> pd.DataFrame:
    when = kickoffs(matches)
    start = pd.Timestamp(week)
    return matches[(when >= start) & (when < start + pd.Timedelta(days=7))]


def test_the_shipped_event_data_has_many_rows_per_timestamp(matches: pd.DataFrame) -> None:
    spec = DatasetSpec.from_yaml(FOOTBALL_SPEC)
    assert spec.key == ["match_id"] and spec.source_name("home_team") == "Home Team"
    week = delivered(matches, "2021-09-13")
    assert len(week) == 60 and kickoffs(week).value_counts().max() >= 8
    assert {s[-6:] for s in matches["Kickoff"] if not s.endswith("Z")} == {"+00:00", "+01:00"}
    assert matches["Kickoff"].str.endswith("Z").any()


def test_event_monitor_through_drift_history_predictions_quality_and_retrain(tmp_path, instance, matches) -> None:
    platform = Platform(local_resources(tmp_path), instance, football_monitor())
    weeks = ["2021-09-13", "2021-09-20", "2021-09-27"]
    for week in weeks:
        result = platform.run_week(week, run_config=QUIET)
        report = result.output_for_node(platform.op("drift_report"))
        assert report["current_rows"] == 60 and report["reference_rows"] == 240
    history = platform.history()
    expected_ids = set(delivered(matches, weeks[0])["Match ID"]) | set(delivered(matches, weeks[1])["Match ID"]) \
        | set(delivered(matches, weeks[2])["Match ID"])
    assert len(history) == 240 + 3 * 60 and history["match_id"].is_unique  # every row delivered, each once
    assert expected_ids <= set(history["match_id"])
    assert (history["kickoff"].value_counts() > 1).any()  # many rows per timestamp, as delivered
    # kickoffs are London time: a 15:00 BST kickoff written "...T15:00:00+01:00" is stored as 15:00
    row = matches[matches["Match ID"] == history["match_id"].iloc[-1]].iloc[0]
    assert pd.Timestamp(row["Kickoff"]).tz_convert("Europe/London").tz_localize(None) == history["kickoff"].iloc[-1]

    assert platform.retrain(run_config=QUIET).success  # the first model in service, trained by hand
    result = platform.run_week("2021-10-04", run_config=QUIET)  # grounds held to 40 %: concept drift
    checks = {e.check_name: e for e in check_evaluations(result)}
    assert checks["no_dataset_drift"].passed  # the features did not drift
    quality = checks["no_model_degradation"]
    assert not quality.passed and quality.metadata["labelled_rows"].value == 60
    from drift_platform.core.ml.predictions import predictions_layout

    stored = platform.resources["warehouse"].read("football_predictions", predictions_layout(platform.monitor.spec),
                                                  pd.Timestamp("2021-10-04"), pd.Timestamp("2021-10-11"))
    assert len(stored) == 60 and stored["match_id"].is_unique and set(stored.columns) >= {
        "match_id", "kickoff", "attendance", "predicted_attendance", "model_version"}

    [request] = platform.tick().run_requests
    assert request.tags["drift_platform/trigger"] == "quality" and request.tags["drift_platform/period"] == "2021-10-04"
    retrain = platform.retrain(tags=request.tags, run_config=QUIET)
    meta = retrain.asset_materializations_for_node(platform.op("trained_model"))[0].metadata
    assert meta["train_rows"].value + meta["holdout_rows"].value == 240 + 4 * 60


def test_a_batch_that_repeats_a_key_fails_naming_the_rows_and_writes_nothing(tmp_path, instance, matches) -> None:
    platform = Platform(local_resources(tmp_path), instance, football_monitor())
    platform.run_week("2021-09-13", run_config=QUIET)
    before = platform.history_hash()
    week = delivered(matches, "2021-09-20").copy()
    week.iloc[5, week.columns.get_loc("Match ID")] = week["Match ID"].iloc[4]
    path = tmp_path / "matches-2021-09-20.csv"
    week.to_csv(path, index=False)
    config = {"ops": {platform.op("current_batch"): {"config": {"batch_url": str(path)}}}, **QUIET}
    result = platform.run_week("2021-09-20", run_config=config, raise_on_error=False)
    assert not result.success
    message = step_failure_message(result)
    assert "duplicate key ('match_id',) in 2 row(s)" in message and week["Match ID"].iloc[4] in message
    assert platform.history_hash() == before


def test_a_period_run_three_times_leaves_its_rows_once(tmp_path, instance) -> None:
    platform = Platform(local_resources(tmp_path), instance, football_monitor())
    digests = set()
    for _ in range(3):
        platform.run_week("2021-09-13", run_config=QUIET)
        digests.add(platform.history_hash())
    history = platform.history()
    assert len(digests) == 1 and len(history) == 240 + 60 and history["match_id"].is_unique


def test_column_names_as_the_export_writes_them_are_reported_with_both_names(matches: pd.DataFrame) -> None:
    spec = DatasetSpec.from_yaml(FOOTBALL_SPEC)
    week = delivered(matches, "2021-09-13")
    frame = conform(week, spec, window=(pd.Timestamp("2021-09-13"), pd.Timestamp("2021-09-20")),
                    timezone="Europe/London")
    assert list(frame.columns) == list(spec.columns) and frame["temp_c"].dtype == "float64"
    with pytest.raises(DataContractError, match=r"missing required column\(s\) \['home_team' \(source 'Home Team'\)\]"):
        conform(week.drop(columns=["Home Team"]), spec, timezone="Europe/London")
    with pytest.raises(DataContractError, match=r"column 'temp_c' \(source 'Temp \(°C\)'\) must be float"):
        conform(week.assign(**{"Temp (°C)": "warm"}), spec, timezone="Europe/London")


# --- one week in every way sources write time ---------------------------------------------------------------
EVENTS_SPEC = {
    "name": "events", "datetime_column": "ts", "target": "amount", "key_columns": ["event_id"],
    "columns": {"event_id": "int", "ts": "datetime", "region": "str", "size": "float", "amount": "float"},
    "numerical_features": ["size"], "categorical_features": ["region"],
    "reference_window": {"start": "2021-01-04", "end": "2021-01-31"}, "first_period": "2021-02-01",
}  # fmt: skip


def events() -> pd.DataFrame:
    """Five weeks of events, 20 sharing each 6-hourly timestamp; the last week drifts in `size`."""
    rng = np.random.default_rng(7)
    times = pd.date_range("2021-01-04", "2021-02-07 18:00", freq="6h").repeat(20)
    n = len(times)
    drifted = times >= pd.Timestamp("2021-02-01")
    size = rng.normal(10, 2, n) + np.where(drifted, 3.0, 0.0)
    return pd.DataFrame({
        "event_id": np.arange(1, n + 1), "ts": times, "region": rng.choice(["north", "south", "east"], n),
        "size": size.round(3), "amount": (size * 5 + rng.normal(0, 1, n)).clip(0.1).round(2),
    })  # fmt: skip


WRITTEN = {  # how each variant writes the naive time t (in the monitor's timezone), and its spec and timezone
    "naive": (lambda t: t.strftime("%Y-%m-%d %H:%M:%S"), None, "UTC"),
    "Z": (lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"), None, "UTC"),
    "+00:00": (lambda t: t.strftime("%Y-%m-%dT%H:%M:%S+00:00"), None, "UTC"),
    "+01:00, in a UTC monitor": (lambda t: (t + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00"), None, "UTC"),
    "datetime_format": (lambda t: t.strftime("%d/%m/%Y %H:%M"), "%d/%m/%Y %H:%M", "UTC"),
    "epoch seconds": (lambda t: str(int(t.timestamp())), "epoch_seconds", "UTC"),
    "+02:00, in an Etc/GMT-2 monitor": (lambda t: t.strftime("%Y-%m-%dT%H:%M:%S+02:00"), None, "Etc/GMT-2"),
}


def run_variant(name: str, tmp_path: Path, instance) -> tuple[pd.DataFrame, dict]:
    write, fmt, timezone = WRITTEN[name]
    frame = events()
    frame["ts"] = [write(t) for t in frame["ts"]]
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    spec = DatasetSpec.from_dict({**EVENTS_SPEC, **({"datetime_format": fmt} if fmt else {})})
    monitor = Monitor(name="events", spec=spec, source=str(path), cadence="weekly", timezone=timezone,
                      retry={"delay_seconds": 0.5})
    platform = Platform(local_resources(tmp_path), instance, monitor)
    result = platform.run_week("2021-02-01", run_config=QUIET)
    return platform.history(), result.output_for_node(platform.op("drift_report"))


@pytest.fixture(scope="module")
def naive_week(tmp_path_factory) -> tuple[pd.DataFrame, dict]:
    import dagster as dg

    with dg.instance_for_test() as instance:
        return run_variant("naive", tmp_path_factory.mktemp("naive"), instance)


@pytest.mark.parametrize("variant", [v for v in WRITTEN if v != "naive"])
def test_the_same_week_in_every_timestamp_form_gives_the_same_rows_drift_and_history(
    variant: str, naive_week, tmp_path, instance
) -> None:
    history, report = run_variant(variant, tmp_path, instance)
    expected_history, expected_report = naive_week
    assert len(history) == 4 * 7 * 4 * 20 + 7 * 4 * 20  # reference and the week, every event once
    pd.testing.assert_frame_equal(history, expected_history)
    assert report["dataset_drift"] is True and report["share"] == expected_report["share"]
    assert [c["score"] for c in report["columns"]] == [c["score"] for c in expected_report["columns"]]


@pytest.mark.parametrize(("values", "fmt", "bad"), [
    (["2021-02-01T00:00:00Z", "2021-02-01T25:00:00Z", "2021-02-01T06:00:00+02:00"], None, "2021-02-01T25:00:00Z"),
    (["01/02/2021", "2021-02-01", "2021-02-02"], None, "01/02/2021"),  # not ISO 8601: never guessed
    (["01/02/2021", "13/02/2021", "2021-02-01"], "%d/%m/%Y", "2021-02-01"),
    (["1612137600", "soon", "1612137600"], "epoch_seconds", "soon"),
])  # fmt: skip
def test_unparseable_timestamps_are_a_contract_error_naming_rows(values, fmt, bad) -> None:
    spec = DatasetSpec.from_dict({**EVENTS_SPEC, **({"datetime_format": fmt} if fmt else {})})
    frame = pd.DataFrame({"event_id": ["1", "2", "3"], "ts": values, "region": "north", "size": "1.0",
                          "amount": "2.0"})
    with pytest.raises(DataContractError) as excinfo:
        conform(frame, spec)
    assert "column 'ts': unparseable datetime in 1 row(s)" in str(excinfo.value) and repr(bad) in str(excinfo.value)


def test_offsets_convert_to_the_monitors_timezone() -> None:
    values = pd.Series(["2021-03-28T00:30:00Z", "2021-03-28T01:30:00Z", "2021-03-28T02:30:00+01:00", None])
    london = parse_datetimes(values, None, "Europe/London")
    assert list(london[:3]) == [pd.Timestamp("2021-03-28 00:30"), pd.Timestamp("2021-03-28 02:30"),
                                pd.Timestamp("2021-03-28 02:30")]  # the clocks went forward at 01:00 UTC
    assert pd.isna(london[3]) and str(london.dtype) == "datetime64[ns]"


def test_a_landed_file_of_thousands_of_events_is_one_period(tmp_path, instance) -> None:
    """A week of 5,600 events (200 per timestamp, ISO times with Z) lands, is archived and run: its rows once."""
    frame = events()
    frame = frame.loc[frame.index.repeat(10)].reset_index(drop=True)  # 200 rows per timestamp
    frame["event_id"] = np.arange(1, len(frame) + 1)
    source = tmp_path / "events.csv"
    frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(source, index=False)
    monitor = Monitor(name="events", spec=DatasetSpec.from_dict(EVENTS_SPEC), source=str(source), cadence="weekly",
                      landing={"pattern": "events-*.csv", "min_age_seconds": 0}, retry={"delay_seconds": 0.5})
    platform = Platform(local_resources(tmp_path), instance, monitor)
    week = frame[frame["ts"] >= pd.Timestamp("2021-02-01")]
    assert len(week) == 5600
    landing = tmp_path / "store" / "events" / "landing"
    landing.mkdir(parents=True)
    week.assign(ts=week["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")).to_csv(landing / "events-w5.csv", index=False)

    import dagster as dg

    with dg.build_sensor_context(instance=instance, resources=platform.resources) as context:
        result = platform.sensor("landing_sensor")(context)
    [request] = result.run_requests
    assert request.partition_key == "2021-02-01"
    run = platform.run_week("2021-02-01", run_config={**request.run_config, **QUIET})
    assert run.output_for_node(platform.op("drift_report"))["current_rows"] == 5600
    history = platform.history()
    assert len(history) == 4 * 7 * 4 * 200 + 5600 and history["event_id"].is_unique
