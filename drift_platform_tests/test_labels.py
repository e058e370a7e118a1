"""Labels that arrive late (a monitor's `labels:`), through real runs of the churn monitor's jobs on a temp
instance and a SQLite warehouse: a period's target is withheld when its features land and written by the labels
job when its labels land (out of order, twice, revised), every landing kept in the ledger `<monitor>_labels`;
`no_model_degradation` is evaluated when the labels land, not before; a re-run of the drift job keeps the landed
labels; a retrain with labels pending trains on the labelled rows only; the labels schedule requests each period
once its label_delay has passed.

The labels source holds the shipped churn sample's labels (key, datetime, churned) of every row; a week's labels
land from it by default, or from a file of that week's labels (`labels_url`) written into tmp_path.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.intake.labels import labels_layout
from drift_platform.core.names import NO_MODEL_DEGRADATION_CHECK
from drift_platform.core.settings import Monitor
from drift_platform_tests.conftest import REPO, local_resources
from drift_platform_tests.helpers import Platform, check_evaluations, step_failure_message

CHURN_SPEC, CHURN_SOURCE = REPO / "data" / "churn.yaml", REPO / "data" / "churn_snapshots.csv"
CHURN_DEFS = REPO / "drift_platform" / "defs" / "monitors" / "churn" / "defs.yaml"
W1, W2, W3 = "2023-02-13", "2023-02-20", "2023-02-27"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
KEY = ["customer_id", "snapshot_date"]
CHURN_SPEC_OBJECT = DatasetSpec.from_yaml(CHURN_SPEC)


def late_churn_monitor(labels_source: Path) -> Monitor:
    """The shipped churn monitor with its labels in their own CSV, four weeks late; the multivariate and
    data-quality checks and the estimate off (not what is tested here, and slow)."""
    attributes = yaml.safe_load(CHURN_DEFS.read_text())["attributes"]
    attributes.update(name="churn_late", spec=CHURN_SPEC_OBJECT, source=str(CHURN_SOURCE),
                      retry={"max_retries": 0}, multivariate={"enabled": False}, data_quality={"enabled": False},
                      estimation={"enabled": False}, landing={"pattern": "snapshots*.csv", "min_age_seconds": 0},
                      labels={"source": str(labels_source), "label_delay": "4 weeks", "pattern": "labels*.csv"})
    return Monitor.model_validate(attributes)


def week_rows(frame: pd.DataFrame, week: str) -> pd.DataFrame:
    when = pd.to_datetime(frame["snapshot_date"])
    return frame[(when >= pd.Timestamp(week)) & (when < pd.Timestamp(week) + pd.Timedelta(days=7))]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """W1's drift job (no champion yet), a retrain (W1's labels pending), then W2's and W3's drift jobs."""
    root = tmp_path_factory.mktemp("labels")
    labels = pd.read_csv(CHURN_SOURCE, usecols=[*KEY, "churned"])
    labels.to_csv(root / "labels.csv", index=False)
    with dg.instance_for_test() as instance:
        platform = Platform(local_resources(root), instance, monitor=late_churn_monitor(root / "labels.csv"))
        platform.run_week(W1, run_config=QUIET)
        retrain = platform.retrain(run_config=QUIET)
        drift = {week: platform.run_week(week, run_config=QUIET) for week in (W2, W3)}
        yield {"root": root, "platform": platform, "labels": labels, "retrain": retrain, "drift": drift,
               "landed": {}}


def land(world, week: str, raise_on_error: bool = True, **config):
    platform = world["platform"]
    return platform.job("labels_job").execute_in_process(
        partition_key=week, instance=platform.instance, raise_on_error=raise_on_error,
        run_config={**QUIET, "ops": {platform.op("labels"): {"config": config}}})


def labels_meta(result, platform: Platform) -> dict:
    [materialization] = result.asset_materializations_for_node(platform.op("labels"))
    return {k: v.value for k, v in materialization.metadata.items()}


def table(world, kind: str, week: str | None = None) -> pd.DataFrame:
    platform = world["platform"]
    warehouse, monitor = platform.resources["warehouse"], platform.monitor
    from drift_platform.core.ml.predictions import predictions_layout

    layout = {"history": monitor.spec.layout, "labels": labels_layout(monitor.spec),
              "predictions": predictions_layout(monitor.spec, [0, 1])}[kind]
    window = (pd.Timestamp(week), pd.Timestamp(week) + pd.Timedelta(days=7)) if week else (None, None)
    return warehouse.read(monitor.table(kind), layout, *window)


def truth(world, week: str) -> pd.Series:
    rows = week_rows(world["labels"], week)
    return rows.set_index([rows["customer_id"], pd.to_datetime(rows["snapshot_date"])])["churned"].sort_index()


def by_key(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index(KEY)["churned"].sort_index()


def write_week(world, week: str, name: str, change=None) -> str:
    """A file of one week's labels (as the source holds them), changed by `change` (a frame -> frame)."""
    rows = week_rows(world["labels"], week).reset_index(drop=True)
    path = world["root"] / name
    (change(rows) if change else rows).to_csv(path, index=False)
    return str(path)


def test_features_land_without_labels_and_the_retrain_uses_the_labelled_rows_only(world) -> None:
    platform = world["platform"]
    for week in (W1, W2, W3):
        assert table(world, "history", week)["churned"].isna().all()
    assert table(world, "predictions", W2)["churned"].isna().all()
    assert len(table(world, "predictions", W2)) == len(week_rows(world["labels"], W2))
    # the reference keeps its labels, joined by key from the labels source
    reference = platform.resources["warehouse"].read(platform.monitor.table("reference"), platform.monitor.spec.layout)
    assert reference["churned"].notna().all() and reference["churned"].sum() > 0
    # no evaluation of the model's quality when the features land
    for result in world["drift"].values():
        assert result.success and check_evaluations(result, NO_MODEL_DEGRADATION_CHECK) == []
    [trained] = world["retrain"].asset_materializations_for_node(platform.op("trained_model"))
    meta = trained.metadata  # the history held the reference and W1 (pending): trained on the reference's rows
    assert meta["train_rows"].value + meta["holdout_rows"].value == len(reference)
    assert meta["window"].value.endswith("2023-02-12")  # the last labelled day, not W1's


def test_labels_land_out_of_order_and_the_quality_check_waits_for_them(world) -> None:
    platform = world["platform"]
    third = land(world, W3)  # week 3's labels before week 2's
    meta = labels_meta(third, platform)
    rows = len(week_rows(world["labels"], W3))
    assert (meta["new_labels"], meta["labelled_rows"], meta["pending_rows"], meta["revised_labels"]) == (rows, rows, 0, 0)
    assert meta["labels_source"].endswith("labels.csv") and meta["metric"] == "log_loss" and meta["log_loss"] > 0
    assert "quality_report_html" in meta
    pd.testing.assert_series_equal(by_key(table(world, "history", W3)), truth(world, W3), check_names=False,
                                   check_dtype=False)
    pd.testing.assert_series_equal(by_key(table(world, "predictions", W3)), truth(world, W3), check_names=False,
                                   check_dtype=False)
    assert table(world, "history", W2)["churned"].isna().all()  # week 2 still pending
    [evaluation] = check_evaluations(third, NO_MODEL_DEGRADATION_CHECK)
    assert evaluation.partition == W3 and evaluation.metadata["labelled_rows"].value == rows
    second = land(world, W2)
    [evaluation] = check_evaluations(second, NO_MODEL_DEGRADATION_CHECK)
    assert evaluation.partition == W2
    pd.testing.assert_series_equal(by_key(table(world, "history", W2)), truth(world, W2), check_names=False,
                                   check_dtype=False)
    ledger = table(world, "labels")
    assert len(ledger) == rows + len(week_rows(world["labels"], W2)) and set(ledger["revision"]) == {0}
    assert ledger["run_id"].nunique() == 2 and ledger["landed_at"].notna().all()


def test_the_same_labels_again_change_nothing(world) -> None:
    platform = world["platform"]
    before, ledger = platform.history_hash(), table(world, "labels")
    again = labels_meta(land(world, W2, labels_url=write_week(world, W2, "w2_again.csv")), platform)
    assert (again["new_labels"], again["revised_labels"]) == (0, 0)
    assert again["unchanged_labels"] == len(week_rows(world["labels"], W2)) and again["pending_rows"] == 0
    assert platform.history_hash() == before
    pd.testing.assert_frame_equal(table(world, "labels"), ledger)


def flip_first(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(churned=[1 - rows["churned"].iloc[0], *rows["churned"].iloc[1:]])


def test_a_differing_label_is_an_error_until_revised(world) -> None:
    platform = world["platform"]
    first = week_rows(world["labels"], W2).iloc[0]
    url = write_week(world, W2, "w2_flipped.csv", flip_first)
    before, ledger = platform.history_hash(), table(world, "labels")
    failed = land(world, W2, raise_on_error=False, labels_url=url)
    message = step_failure_message(failed)
    assert not failed.success and first["customer_id"] in message
    assert f"landed {int(first['churned'])}, new {1 - int(first['churned'])}" in message
    assert "revise: true" in message
    assert platform.history_hash() == before
    pd.testing.assert_frame_equal(table(world, "labels"), ledger)

    revised = land(world, W2, labels_url=url, revise=True)
    meta = labels_meta(revised, platform)
    assert (meta["revised_labels"], meta["new_labels"]) == (1, 0)
    assert first["customer_id"] in meta["revisions"] and meta["landed_at"].endswith("UTC")
    after = table(world, "labels")
    [row] = after[after["revision"] == 1].to_dict("records")
    assert row["customer_id"] == first["customer_id"] and row["churned"] == 1 - first["churned"]
    assert row["landed_at"] >= pd.Timestamp.now(tz="UTC").tz_localize(None) - pd.Timedelta(minutes=5)
    assert len(after) == len(ledger) + 1  # the first landing kept beside its revision
    for kind in ("history", "predictions"):
        stored = table(world, kind, W2).set_index("customer_id")["churned"]
        assert stored[first["customer_id"]] == 1 - first["churned"]
    assert len(check_evaluations(revised, NO_MODEL_DEGRADATION_CHECK)) == 1


def test_a_label_for_an_unknown_key_is_an_error_and_writes_nothing(world) -> None:
    platform = world["platform"]

    def stranger(rows):
        return pd.concat([rows, rows.iloc[[0]].assign(customer_id="C999999")], ignore_index=True)

    before, ledger = platform.history_hash(), table(world, "labels")
    failed = land(world, W2, raise_on_error=False, labels_url=write_week(world, W2, "w2_stranger.csv", stranger))
    message = step_failure_message(failed)
    assert not failed.success and "C999999" in message and "not in the history rows" in message
    assert platform.history_hash() == before
    pd.testing.assert_frame_equal(table(world, "labels"), ledger)


def test_a_rerun_of_the_drift_job_keeps_the_landed_labels(world) -> None:
    platform = world["platform"]
    expected = {kind: by_key(table(world, kind, W2)) for kind in ("history", "predictions")}
    assert expected["history"].notna().all()
    rerun = platform.run_week(W2, run_config=QUIET)
    assert check_evaluations(rerun, NO_MODEL_DEGRADATION_CHECK) == []
    for kind in ("history", "predictions"):
        pd.testing.assert_series_equal(by_key(table(world, kind, W2)), expected[kind])
    # The labels published W2's quality run; the re-run's predictions replaced it: one quality run a period
    assert quality_periods(world).count(W2) == 1


def quality_periods(world) -> list[str]:
    """The period of every quality run in the monitor's Evidently project."""
    from evidently.ui.workspace import Workspace

    workspace = Workspace.create(str(world["root"] / "evidently"))
    [project] = workspace.search_project(world["platform"].monitor.name)
    runs = [workspace.get_run(project.id, r) for r in workspace.list_runs(project.id)]
    return [run.metadata["period"] for run in runs if "quality" in run.tags]


def test_the_labels_schedule_requests_each_period_once_its_delay_has_passed(world) -> None:
    platform = world["platform"]
    schedule = platform.defs.resolve_schedule_def(f"{platform.name}_labels_schedule")
    requested = {}
    for monday in ("2023-03-13", "2023-03-20", "2023-03-27"):
        when = dt.datetime.fromisoformat(f"{monday}T07:00:00+00:00")
        with dg.build_schedule_context(instance=platform.instance, scheduled_execution_time=when,
                                       repository_def=platform.defs.get_repository_def()) as context:
            result = schedule.evaluate_tick(context)
        requested[monday] = [(r.partition_key, r.run_key) for r in result.run_requests or []]
    # W1 ends 2023-02-20 00:00, due four weeks later: on the tick of 2023-03-20 07:00, and on no other
    assert requested == {"2023-03-13": [], "2023-03-20": [(W1, W1)], "2023-03-27": [(W2, W2)]}


def test_a_labels_file_in_the_landing_folder_becomes_a_labels_run(world) -> None:
    """W1's labels dropped as a file matching labels.pattern: archived, a labels job run reading it; a file
    without the target is quarantined. W1 has no predictions (no champion when its features landed): its labels
    land, and no_model_degradation is skipped rather than failed."""
    platform = world["platform"]
    landing = platform.resources["store"].scoped(f"{platform.name}/landing")
    rows = week_rows(world["labels"], W1)
    landing.write_bytes("labels_w1.csv", rows.to_csv(index=False).encode(), "text/csv")
    landing.write_bytes("labels_bad.csv", rows.drop(columns="churned").to_csv(index=False).encode(), "text/csv")
    sensor = platform.sensor("landing_sensor")
    with dg.build_sensor_context(instance=platform.instance, resources=platform.resources,
                                 repository_def=platform.defs.get_repository_def()) as context:
        result = sensor(context)
    [request] = result.run_requests
    assert request.job_name == f"{platform.name}_labels_job" and request.partition_key == W1
    url = request.run_config["ops"][platform.op("labels")]["config"]["labels_url"]
    assert f"archive/labels/{W1}/" in url and url.endswith("-labels_w1.csv")
    quarantined = [key for key in landing.list_keys("quarantine") if key.endswith(".reason.txt")]
    assert len(quarantined) == 1 and "'churned'" in landing.read_bytes(quarantined[0]).decode()
    landed = platform.job("labels_job").execute_in_process(partition_key=W1, instance=platform.instance,
                                                           run_config=request.run_config, tags=request.tags)
    assert landed.success and check_evaluations(landed, NO_MODEL_DEGRADATION_CHECK) == []
    pd.testing.assert_series_equal(by_key(table(world, "history", W1)), truth(world, W1), check_names=False,
                                   check_dtype=False)
    [record] = platform.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=platform.key("labels"), asset_partitions=[W1]), limit=1).records
    assert record.asset_materialization.metadata["new_labels"].value == len(rows)


def raw_labels(rows: list[tuple[str, str, str | None]]) -> pd.DataFrame:
    """A labels file as read (strings): customer_id, snapshot_date, churned."""
    return pd.DataFrame(rows, columns=[*KEY, "churned"], dtype=object)


def test_labels_are_checked_one_per_key_and_compared_with_the_landed_ones() -> None:
    from drift_platform.core.intake.labels import (
        LabelsError,
        compare_labels,
        empty_ledger,
        one_label_per_key,
        read_labels,
    )

    spec, week = DatasetSpec.from_yaml(CHURN_SPEC), (pd.Timestamp(W2), pd.Timestamp(W3))
    raw = raw_labels([("C1", "2023-02-20", "1"), ("C2", "2023-02-21", None), ("C3", "2023-02-27", "0"),
                      ("C1", "2023-02-20", "1"), ("C4", "2023-02-22", "0")])
    labels = read_labels(raw, spec, week)  # in_source-style rows: without a label (C2), or outside (C3): left out
    assert sorted(labels["customer_id"]) == ["C1", "C1", "C4"]
    once, repeats = one_label_per_key(labels, spec)
    assert repeats == 1 and sorted(once["customer_id"]) == ["C1", "C4"]
    with pytest.raises(LabelsError, match=r"conflicting labels.*C4.*C4"):
        one_label_per_key(read_labels(raw_labels([("C4", "2023-02-22", "0"), ("C4", "2023-02-22", "1")]), spec,
                                      week), spec)
    with pytest.raises(LabelsError, match=r"label\(s\) \[2\] outside the known classes"):
        read_labels(raw_labels([("C5", "2023-02-22", "2")]), spec, week)
    with pytest.raises(LabelsError, match=r"datetimes outside the window"):
        read_labels(raw, spec, week, whole_file=True)  # a landed file holds one period only
    first = compare_labels(once, empty_ledger(spec), spec)
    assert (first.new, first.unchanged, len(first.revised)) == (2, 0, 0)
    assert set(first.appended["revision"]) == {0}
    landed = first.appended
    flipped = once.assign(churned=1 - once["churned"])
    with pytest.raises(LabelsError, match=r"C1.*landed 1, new 0.*C4.*landed 0, new 1.*revise: true"):
        compare_labels(flipped, landed, spec)
    revised = compare_labels(flipped, landed, spec, revise=True)
    assert (revised.new, revised.unchanged, len(revised.revised)) == (0, 0, 2)
    assert set(revised.appended["revision"]) == {1} and list(revised.revised["landed_label"]) == [1, 0]


def test_in_source_labels_land_from_the_monitors_own_source(tmp_path: Path, instance) -> None:
    """`in_source: true`: the reference keeps the source's labels, a week's are withheld when its features land
    and taken from the source's rows of the week when its labels land."""
    attributes = late_churn_monitor(tmp_path / "unused.csv").model_dump(by_alias=True)
    monitor = Monitor.model_validate({**attributes, "name": "churn_in_source", "spec": CHURN_SPEC_OBJECT,
                                      "labels": {"in_source": True, "label_delay": "4 weeks"}})
    platform = Platform(local_resources(tmp_path), instance, monitor=monitor)
    platform.run_week(W1, run_config=QUIET)
    world = {"platform": platform, "labels": pd.read_csv(CHURN_SOURCE, usecols=[*KEY, "churned"])}
    assert table(world, "history", W1)["churned"].isna().all()
    reference = platform.resources["warehouse"].read(monitor.table("reference"), monitor.spec.layout)
    assert reference["churned"].notna().all()
    result = land(world, W1)
    assert result.success and check_evaluations(result, NO_MODEL_DEGRADATION_CHECK) == []
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=platform.key("labels"), asset_partitions=[W1]), limit=1).records
    meta = record.asset_materialization.metadata
    assert meta["labels_source"].value.startswith("in_source: ") and meta["pending_rows"].value == 0
    pd.testing.assert_series_equal(by_key(table(world, "history", W1)), truth(world, W1), check_names=False,
                                   check_dtype=False)
