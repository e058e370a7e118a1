"""`no_multivariate_drift` in the platform: a week whose two sensors keep their distributions but flip their
correlation fails it while `no_dataset_drift` passes; a quiet week passes both; the retrain sensor acts on it only
when the monitor's `retrain_on` lists it, with one retrain and one alert."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import Monitor
from drift_platform_tests.conftest import local_resources, slack_alerter
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform, check_evaluations

SPEC = DatasetSpec.from_dict({
    "name": "sensors", "datetime_column": "ts", "target": "y",
    "reference_window": {"start": "2021-01-04", "end": "2021-01-31"}, "first_period": "2021-02-01",
    "columns": {"ts": "datetime", "y": "float", "pressure": "float", "flow": "float", "line": "str"},
    "numerical_features": ["pressure", "flow"], "categorical_features": ["line"],
})  # fmt: skip
QUIET_WEEK, FLIPPED_WEEK = "2021-02-01", "2021-02-08"


def sensor_rows(start: str, hours: int, correlation: float, seed: int) -> pd.DataFrame:
    """Hourly rows: pressure and flow standard normal with the given correlation, a 3-level line."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((hours, 2))
    pressure = z[:, 0]
    flow = correlation * z[:, 0] + np.sqrt(1 - correlation**2) * z[:, 1]
    return pd.DataFrame({
        "ts": pd.date_range(start, periods=hours, freq="h"),
        "y": 10 + pressure + flow + rng.normal(0, 0.1, hours),
        "pressure": pressure, "flow": flow,
        "line": rng.choice(np.array(["a", "b", "c"], dtype=object), hours),
    })  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> str:
    """28 days of reference and a quiet week at correlation +0.9, then a week at -0.9 (marginals unchanged)."""
    frame = pd.concat([
        sensor_rows("2021-01-04", 28 * 24, 0.9, seed=1),
        sensor_rows(QUIET_WEEK, 7 * 24, 0.9, seed=2),
        sensor_rows(FLIPPED_WEEK, 7 * 24, -0.9, seed=3),
    ])  # fmt: skip
    path = tmp_path_factory.mktemp("sensors") / "sensors.csv"
    frame.to_csv(path, index=False)
    return str(path)


def sensors_monitor(source: str, **attributes) -> Monitor:
    return Monitor.model_validate({"name": "sensors", "spec": SPEC, "source": source, "cadence": "weekly",
                                   "retry": {"delay_seconds": 0.5}, **attributes})


def evaluations(result) -> dict:
    return {e.check_name: e for e in check_evaluations(result)}


def test_flipped_correlation_fails_only_the_multivariate_check(tmp_path, instance, source, slack: SlackRecorder) -> None:
    platform = Platform(local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0)), instance,
                        monitor=sensors_monitor(source))
    quiet = evaluations(platform.run_week(QUIET_WEEK))
    assert quiet["no_dataset_drift"].passed and quiet["no_multivariate_drift"].passed
    assert quiet["no_multivariate_drift"].metadata["auc"].value <= quiet["no_multivariate_drift"].metadata[
        "threshold"].value

    flipped = evaluations(platform.run_week(FLIPPED_WEEK))
    assert flipped["no_dataset_drift"].passed is True  # each column alone looks as it did
    check = flipped["no_multivariate_drift"]
    assert check.passed is False and check.severity.value == "WARN"
    meta = {k: v.value for k, v in check.metadata.items()}
    assert meta["auc"] > meta["threshold"] and meta["p_value"] <= 0.05
    assert meta["top_columns"].split(" (")[0] in ("pressure", "flow") and "line" not in meta["top_columns"].split(",")[0]
    assert meta["null_draws"] == 100 and meta["current_rows_used"] == 7 * 24
    # The null: the reference's 4 whole weeks of hourly rows (time order), not rows drawn at random.
    drawn = ("Student-t predictive distribution (3 df) of the AUCs of the reference's 4 whole periods (evenly spaced "
             "rows cut in runs of about 168), each vs the rest")
    assert drawn in meta["null_method"] and meta["null_method"] in meta["method"]

    # Not in retrain_on (the default): settled without a retrain or an alert.
    result = platform.tick()
    assert result.run_requests == [] and slack.messages() == []
    assert "no_multivariate_drift evaluation since id" in result.skip_reason.skip_message


def test_retrain_on_lists_it_one_retrain_one_alert(tmp_path, instance, source, slack: SlackRecorder) -> None:
    monitor = sensors_monitor(source, retrain_on=["no_dataset_drift", "no_multivariate_drift"])
    platform = Platform(local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0)), instance,
                        monitor=monitor)
    platform.run_week(FLIPPED_WEEK)
    [request] = platform.tick().run_requests
    assert request.run_key.startswith("no_multivariate_drift:")
    assert request.tags["drift_platform/trigger"] == "multivariate"
    [alert] = slack.messages()
    assert "*[sensors] Multivariate drift* in week 2021-02-08" in alert["text"] and "AUC" in alert["text"]
    assert platform.tick().run_requests == [] and len(slack.messages()) == 1
    # The null was computed once and kept beside the reference's statistics; a re-run reuses it.
    nulls = [k for k in platform.models().list_keys("reference_stats") if ".multivariate-null-" in k]
    assert len(nulls) == 1 and ".multivariate-null-periods-168-" in nulls[0]  # not a null cached by a former version
    platform.run_week(FLIPPED_WEEK)
    assert [k for k in platform.models().list_keys("reference_stats") if ".multivariate-null-" in k] == nulls


def test_turned_off_the_check_is_not_defined(tmp_path, instance, source) -> None:
    platform = Platform(local_resources(tmp_path), instance,
                        monitor=sensors_monitor(source, multivariate={"enabled": False}))
    checks = set(evaluations(platform.run_week(QUIET_WEEK)))
    assert "no_dataset_drift" in checks and "no_multivariate_drift" not in checks  # (other checks may run too)


def test_a_reference_whose_own_periods_are_all_separable_does_not_judge() -> None:
    """The bike sample's reference, 28 January days in 7-day weeks of changing weather: each of its weeks is told
    from the other days perfectly, so the null's threshold is 1 and no week could fail. The check passes and says
    it did not judge, with the week's AUC."""
    from pathlib import Path

    from drift_platform.core.settings import MultivariateSettings
    from drift_platform.core.stats.multivariate import multivariate_drift
    from drift_platform.lib.checks import multivariate_check_result

    data = Path(__file__).resolve().parents[1] / "data"
    spec = DatasetSpec.from_yaml(data / "bike_sharing.yaml")
    rows = pd.read_csv(data / "bike_sharing_day.csv", parse_dates=["dteday"])
    reference = rows[(rows.dteday >= "2011-01-01") & (rows.dteday < "2011-01-29")].reset_index(drop=True)
    week = rows[(rows.dteday >= "2011-07-04") & (rows.dteday < "2011-07-11")].reset_index(drop=True)
    columns = spec.monitored_columns
    numerical = [c for c in columns if c in spec.numerical_features]
    categorical = [c for c in columns if c in spec.categorical_features]
    result = multivariate_drift(reference, week, numerical, categorical, MultivariateSettings())
    assert result.threshold == 1.0 and result.judged is False and result.auc == 1.0
    summary = {"monitor": "bike_sharing", "period": "2011-07-04",
               "multivariate": {**result.summary(), "severity": "WARN"}}
    check = multivariate_check_result(summary)
    assert check.passed is True and check.description.startswith("not judged: ")
    assert check.metadata["judged"].value is False and check.metadata["auc"].value == 1.0
