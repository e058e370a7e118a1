"""A backfill run of several periods (the assets' BackfillPolicy) leaves what one run per period leaves: the same
history, per-period reports and metadata, one evaluation per period of each of the three checks, and one retrain
and alert per failed period from the sensor; the S3 IO manager stores each period where a one-period run does."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from drift_platform.core.names import (
    NO_DATASET_DRIFT_CHECK,
    NO_MODEL_DEGRADATION_CHECK,
    NO_MULTIVARIATE_DRIFT_CHECK,
    TAG_PERIOD,
)
from drift_platform.lib.partitions import backfill_policy
from drift_platform.resources.deployment import DeploymentSettings
from drift_platform.resources.io_manager import load_bytes
from drift_platform_tests.conftest import bike_monitor, grid_monitor, local_resources, slack_alerter
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
FIRST, LAST = "2011-06-13", "2011-07-25"  # 7 weeks, 2011-07-04 drifts
TRAINING_WEEKS = ("2011-01-31", "2011-02-07", "2011-02-14", "2011-02-21")


def range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def evaluations(instance: dg.DagsterInstance, key: dg.AssetCheckKey) -> dict[str, str]:
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1000)
    return {r.partition: r.status.value for r in sorted(records, key=lambda r: r.id)}


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, keep: tuple[str, ...]) -> dict[str, dict]:
    latest = {}
    for record in instance.fetch_materializations(key, limit=1000, ascending=True).records:
        meta = record.asset_materialization.metadata
        latest[record.partition_key] = {k: meta[k].value for k in keep if k in meta}
    return latest


@pytest.fixture
def platforms(tmp_path, slack: SlackRecorder):
    """Two monitors' worlds: one runs week by week, the other runs the same weeks in one backfill run."""
    with dg.instance_for_test() as one, dg.instance_for_test() as other:
        alerts = slack_alerter(slack, max_retries=0)
        yield (Platform(local_resources(tmp_path / "weekly", alerts=alerts), one),
               Platform(local_resources(tmp_path / "range", alerts=alerts), other))


@pytest.mark.parametrize("with_champion", [False, True])
def test_one_run_of_several_weeks_equals_one_run_per_week(platforms, with_champion, slack: SlackRecorder) -> None:
    weekly, ranged = platforms
    if with_champion:
        for platform in platforms:
            for week in TRAINING_WEEKS:
                platform.run_week(week, run_config=QUIET_LOGS)
            platform.retrain(run_config=QUIET_LOGS)
    partitions = weekly.job("drift_job").partitions_def
    weeks = [k for k in partitions.get_partition_keys() if FIRST <= k <= LAST]
    for week in weeks:
        weekly.run_week(week, run_config=QUIET_LOGS)
    runs_before = len(ranged.instance.get_run_ids())
    result = ranged.job("drift_job").execute_in_process(instance=ranged.instance, tags=range_tags(FIRST, LAST),
                                                        run_config=QUIET_LOGS)
    assert result.success and len(ranged.instance.get_run_ids()) == runs_before + 1

    pd.testing.assert_frame_equal(ranged.history(), weekly.history())
    for asset, keep in (("current_batch", ("rows", "first", "last", "missing_values")),
                        ("drift_report", ("drift_share", "dataset_drift", "drifted_columns", "score/temp")),
                        ("combined_history", ("period_rows", "replaced_period_rows")),
                        ("predictions", ("rows", "rmsle", "model_version"))):
        mine = latest_metadata(ranged.instance, ranged.key(asset), keep)
        theirs = latest_metadata(weekly.instance, weekly.key(asset), keep)
        if asset == "predictions" and not with_champion:
            assert mine == theirs == {}
            continue
        assert set(mine) >= set(weeks), asset
        for week in weeks:
            mine[week].pop("model_version", None), theirs[week].pop("model_version", None)
            assert mine[week] == pytest.approx(theirs[week]), (asset, week)

    checks = [("drift_report", NO_DATASET_DRIFT_CHECK), ("drift_report", NO_MULTIVARIATE_DRIFT_CHECK)]
    checks += [("predictions", NO_MODEL_DEGRADATION_CHECK)] if with_champion else []
    for asset, check in checks:
        mine = evaluations(ranged.instance, dg.AssetCheckKey(ranged.key(asset), check))
        theirs = evaluations(weekly.instance, dg.AssetCheckKey(weekly.key(asset), check))
        assert {w: mine[w] for w in weeks} == {w: theirs[w] for w in weeks}, check
        assert None not in mine and "PLANNED" not in {mine[w] for w in weeks}  # each week settled, none without one
    drift = evaluations(ranged.instance, dg.AssetCheckKey(ranged.key("drift_report"), "no_dataset_drift"))
    drifted = sorted(w for w in weeks if drift[w] == "FAILED")
    assert "2011-07-04" in drifted

    # The sensor: one retrain and one alert per drifted week of the backfill run.
    before = len(slack.messages())
    ranged.cursor = None
    tick = ranged.tick()
    periods = sorted(r.tags[TAG_PERIOD] for r in tick.run_requests)
    acted = [(a, c) for a, c in checks if c in ranged.monitor.retrain_on]  # no_multivariate_drift: recorded only
    failed_periods = sorted({w for asset, check in acted for w, s in evaluations(
        ranged.instance, dg.AssetCheckKey(ranged.key(asset), check)).items() if s == "FAILED"})  # the training weeks too
    assert periods == failed_periods
    assert len({r.run_key for r in tick.run_requests}) == len(periods)
    assert len(slack.messages()) - before == len(periods)
    assert ranged.tick().run_requests == []  # exactly once


def test_a_batch_url_cannot_feed_several_weeks(platforms) -> None:
    _, ranged = platforms
    result = ranged.job("drift_job").execute_in_process(
        instance=ranged.instance, tags=range_tags(FIRST, LAST), raise_on_error=False,
        run_config={**QUIET_LOGS, "ops": {"bike_sharing__current_batch": {"config": {"batch_url": "/tmp/x.csv"}}}})
    assert not result.success


def test_periods_per_backfill_run_is_a_monitor_attribute(tmp_path) -> None:
    """13 weeks or 31 days per run unless the monitor says otherwise; the four period assets share the policy
    (Dagster only runs assets together when their policies match) and so does the drift job; the assets and
    their checks carry the drift job's retry policy, which an asset backfill's runs (Dagster's implicit asset
    job) do not get from the job."""
    assert backfill_policy(bike_monitor()) == dg.BackfillPolicy.multi_run(13)
    assert backfill_policy(grid_monitor()) == dg.BackfillPolicy.multi_run(31)
    assert backfill_policy(bike_monitor(backfill_periods_per_run=4)) == dg.BackfillPolicy.multi_run(4)
    assert bike_monitor(backfill_periods_per_run=0).problems() == ["backfill_periods_per_run: 0 is outside [1, inf]"]
    period_steps = {"current_batch", "drift_report", "combined_history", "predictions", "drift_report_no_dataset_drift",
                    "drift_report_no_multivariate_drift", "drift_report_no_data_quality_regression",
                    "drift_report_no_prediction_drift", "predictions_no_model_degradation"}
    with dg.instance_for_test() as instance:
        defs = Platform(local_resources(tmp_path), instance, monitor=bike_monitor(backfill_periods_per_run=5)).defs
        graph, job = defs.resolve_asset_graph(), defs.resolve_implicit_global_asset_job_def()
    for name in ("current_batch", "drift_report", "combined_history", "predictions"):
        assert graph.get(dg.AssetKey(["bike_sharing", name])).backfill_policy == dg.BackfillPolicy.multi_run(5)
    # the drift job inherits it: the daemon splits the job's backfill from the UI into ranges of 5 weeks too
    assert defs.resolve_job_def("bike_sharing_drift_job").backfill_policy == dg.BackfillPolicy.multi_run(5)
    retried = {n.name.removeprefix("bike_sharing__") for n in job.graph.nodes if n.definition.retry_policy}
    assert retried == period_steps
    assert {n.definition.retry_policy.max_retries for n in job.graph.nodes if n.definition.retry_policy} == {2}


def test_s3_io_manager_stores_each_period_where_a_one_period_run_does(tmp_path, monkeypatch, s3_server,
                                                                       s3_bucket) -> None:
    """Against the moto S3 server: a run of three weeks stores one object per week (JSON or Parquet, never a pickle) under the keys a one-week run
    uses, and a later one-week run of drift_report alone loads its week's batch from what the range run stored.
    The range run's later steps read its batches and reports back from what it wrote, with no download."""
    from botocore.client import BaseClient

    env = {"DRIFT_STORE_URL": f"s3://{s3_bucket}/drift", "DRIFT_S3_ENDPOINT_URL": s3_server.endpoint_url,
           "AWS_REGION": s3_server.region, "AWS_ACCESS_KEY_ID": s3_server.access_key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    io_manager = DeploymentSettings.from_env(env).io_manager()
    client = s3_server.client()

    downloads, call = [], BaseClient._make_api_call

    def counted(self, operation, params):  # the IO manager's downloads of step outputs
        if operation == "GetObject" and params.get("Key", "").startswith("drift/io/"):
            downloads.append(params["Key"])
        return call(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)

    def io_keys() -> set[str]:
        listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="drift/io/").get("Contents", [])
        return {o["Key"] for o in listed}

    with dg.instance_for_test() as instance:
        platform = Platform({**local_resources(tmp_path), "io_manager": io_manager}, instance)
        platform.run_week("2011-06-06", run_config=QUIET_LOGS)  # one week: where a one-period run stores
        one_week = io_keys()
        assert one_week == {"drift/io/bike_sharing/current_batch/2011-06-06",
                            "drift/io/bike_sharing/drift_report/2011-06-06"}
        weeks = ["2011-06-13", "2011-06-20", "2011-06-27"]
        result = platform.job("drift_job").execute_in_process(instance=instance, tags=range_tags(weeks[0], weeks[-1]),
                                                              run_config=QUIET_LOGS)
        assert result.success and downloads == []
        assert io_keys() - one_week == {f"drift/io/bike_sharing/{asset}/{week}"
                                        for asset in ("current_batch", "drift_report") for week in weeks}
        body = client.get_object(Bucket=s3_bucket, Key="drift/io/bike_sharing/drift_report/2011-06-20")["Body"]
        summary = load_bytes(body.read(), "drift_report/2011-06-20")  # JSON: no pickle
        assert summary["period"] == "2011-06-20" and summary["monitor"] == "bike_sharing"

        # A one-week run of drift_report alone reads (downloads) the batch the range run stored for that week.
        downloads.clear()
        again = platform.job("drift_job").execute_in_process(
            instance=instance, partition_key="2011-06-20", run_config=QUIET_LOGS,
            asset_selection=[platform.key("drift_report")])
        assert again.success and downloads == ["drift/io/bike_sharing/current_batch/2011-06-20"]
        [report] = again.asset_materializations_for_node("bike_sharing__drift_report")
        first = latest_metadata(instance, platform.key("current_batch"), ("rows",))["2011-06-20"]
        assert report.partition == "2011-06-20" and report.metadata["current_rows"].value == first["rows"]
