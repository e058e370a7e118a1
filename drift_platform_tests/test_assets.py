"""The assets through the real jobs, on temp folders and a SQLite warehouse."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from drift_platform.core.ml.model_registry import load_model
from drift_platform.core.names import TAG_STAGE
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets.ingestion import build_ingestion
from drift_platform.lib.partitions import partitions_for
from drift_platform_tests.conftest import BIKE_SOURCE, bike_monitor, local_resources
from drift_platform_tests.helpers import Platform, check_evaluations, step_failure_message

DRIFTING_WEEK = "2011-07-04"  # summer against a January reference
QUIET_WEEK = "2011-01-31"
MONITOR = "bike_sharing"


@pytest.fixture
def platform(resources, instance) -> Platform:
    return Platform(resources, instance)


def materialization(result, asset: str):
    """The materialization of one of the monitor's assets (its op is `bike_sharing__<asset>`)."""
    return result.asset_materializations_for_node(f"{MONITOR}__{asset}")[0]


def test_assets_are_grouped_by_monitor_with_their_stage_and_owners(platform: Platform) -> None:
    stages = {
        "reference_data": "ingestion", "current_batch": "ingestion", "combined_history": "ingestion",
        "drift_report": "monitoring", "predictions": "monitoring", "drift_trend": "monitoring",
        "trained_model": "training", "champion_model": "training",
    }  # fmt: skip
    specs = {spec.key: spec for spec in platform.defs.resolve_all_asset_specs()}
    assert set(specs) == {platform.key(name) for name in stages}
    for name, stage in stages.items():
        spec = specs[platform.key(name)]
        assert spec.group_name == MONITOR, name
        assert spec.tags[TAG_STAGE] == stage, name
        assert list(spec.owners) == ["team:ml-platform"], name


def reference_asset(monitor: Monitor) -> dg.AssetsDefinition:
    """The monitor's reference_data asset, as its component builds it (unbound: the test gives the resources)."""
    reference, _, _ = build_ingestion(monitor, partitions_for(monitor))
    return reference


def test_reference_is_created_once_then_read_from_the_warehouse(tmp_path, instance) -> None:
    resources = local_resources(tmp_path)
    first = dg.materialize([reference_asset(bike_monitor())], instance=instance, resources=resources)
    meta = materialization(first, "reference_data").metadata
    assert meta["rows"].value == 28
    assert (meta["first"].value, meta["last"].value) == ("2011-01-01 00:00", "2011-01-28 00:00")

    # Point the source at a file without January: the baseline must not move, it lives in the table now.
    later = tmp_path / "later.csv"
    source = pd.read_csv(BIKE_SOURCE)
    source[source["dteday"] >= "2011-03-01"].to_csv(later, index=False)
    again = dg.materialize([reference_asset(bike_monitor(source=later))], instance=instance, resources=resources)
    assert materialization(again, "reference_data").metadata["rows"].value == 28


def test_drifting_week_end_to_end(platform: Platform) -> None:
    result = platform.run_week(DRIFTING_WEEK)
    assert result.success

    batch = materialization(result, "current_batch").metadata
    assert batch["rows"].value == 7
    assert (batch["first"].value, batch["last"].value) == ("2011-07-04 00:00", "2011-07-10 00:00")

    report = materialization(result, "drift_report").metadata
    assert isinstance(report["dataset_drift"], dg.BoolMetadataValue) and report["dataset_drift"].value is True
    assert isinstance(report["drift_share"], dg.FloatMetadataValue) and report["drift_share"].value >= 0.5
    assert isinstance(report["drifted_columns"], dg.IntMetadataValue) and report["drifted_columns"].value >= 3
    table = report["columns"].value
    assert "| column" in table and "method" in table and "threshold" in table and "temp" in table
    html = Path(report["report_html"].value)
    assert html.is_file() and html.stat().st_size > 100_000
    reports = Path(platform.resources["store"].root).resolve() / MONITOR / "drift_reports" / DRIFTING_WEEK
    assert html.parent == reports and Path(report["report_json"].value).parent == reports
    assert "metrics" in json.loads(Path(report["report_json"].value).read_text())
    assert report["score/temp"].value < 0.05  # K-S p-value of the summer temperature

    [evaluation] = check_evaluations(result, "no_dataset_drift")
    assert evaluation.check_name == "no_dataset_drift" and evaluation.passed is False
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["drift_share"].value == report["drift_share"].value
    assert "temp" in evaluation.metadata["drifted_columns"].value
    assert (evaluation.metadata["monitor"].value, evaluation.metadata["period"].value) == (MONITOR, DRIFTING_WEEK)

    # the check is not blocking: the drifted week is still appended to the history
    history = materialization(result, "combined_history").metadata
    assert history["total_rows"].value == 28 + 7 and history["period_rows"].value == 7


def test_quiet_week_passes_the_check(platform: Platform) -> None:
    result = platform.run_week(QUIET_WEEK)
    [evaluation] = check_evaluations(result, "no_dataset_drift")
    assert evaluation.passed is True
    assert materialization(result, "drift_report").metadata["dataset_drift"].value is False


def test_rematerializing_a_week_never_duplicates_history(platform: Platform) -> None:
    platform.run_week(QUIET_WEEK)
    count, digest = len(platform.history()), platform.history_hash()
    for _ in range(2):
        result = platform.run_week(QUIET_WEEK)
        assert materialization(result, "combined_history").metadata["replaced_period_rows"].value == 7
    assert len(platform.history()) == count == 35
    assert platform.history_hash() == digest
    platform.run_week("2011-02-07")
    history = platform.history()
    assert len(history) == 42 and history["dteday"].is_unique


def test_batch_missing_a_feature_column_fails_naming_it(tmp_path, instance) -> None:
    good = Platform(local_resources(tmp_path), instance)
    good.run_week(QUIET_WEEK)
    digest = good.history_hash()

    broken = tmp_path / "no_hum.csv"
    pd.read_csv(BIKE_SOURCE).drop(columns=["hum"]).to_csv(broken, index=False)
    platform = Platform(local_resources(tmp_path), instance, monitor=bike_monitor(source=broken))
    result = platform.run_week("2011-02-07", raise_on_error=False)
    assert not result.success
    message = step_failure_message(result)
    assert "missing required column(s) ['hum']" in message and "week 2011-02-07" in message
    assert platform.history_hash() == digest  # nothing downstream changed


def test_trained_model_is_versioned_with_its_sha256(platform: Platform, resources) -> None:
    for week in (QUIET_WEEK, "2011-02-07", "2011-02-14", DRIFTING_WEEK):
        platform.run_week(week)
    result = platform.retrain()
    meta = materialization(result, "trained_model").metadata
    assert meta["best_alpha"].value in (0.1, 1, 2, 3, 4, 10, 100)
    assert meta["train_rows"].value + meta["holdout_rows"].value == 28 + 4 * 7
    assert 0 < meta["holdout_rmsle"].value < 1 and meta["cv_rmsle"].value > 0
    artifact = Path(meta["artifact"].value)
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == meta["sha256"].value
    models = Path(resources["store"].root).resolve() / MONITOR / "models"
    assert artifact == models / meta["model_version"].value / "model.skops"
    model, manifest = load_model(platform.models())
    assert manifest["version"] == meta["model_version"].value and manifest["sha256"] == meta["sha256"].value
    assert manifest["monitor"] == MONITOR
    assert model.predict(platform.history()[platform.monitor.spec.features]).min() > 0

    second = platform.retrain()
    version_2 = materialization(second, "trained_model").metadata["model_version"].value
    assert version_2 != meta["model_version"].value
    assert artifact.is_file()  # the earlier version is kept
    assert load_model(platform.models())[1]["version"] == version_2


def test_training_without_history_says_what_to_do(platform: Platform) -> None:
    result = platform.retrain(raise_on_error=False)
    assert not result.success
    assert "the history table 'bike_sharing_history' does not exist yet: materialize bike_sharing/combined_history first" in (
        step_failure_message(result)
    )


def test_drift_thresholds_come_from_run_config(platform: Platform) -> None:
    config = {"ops": {"bike_sharing__drift_report": {"config": {"drift_share": 0.99, "num_method": "wasserstein",
                                                    "per_column_threshold": {"temp": 0.5}}}}}
    result = platform.run_week(DRIFTING_WEEK, run_config=config)
    report = materialization(result, "drift_report").metadata
    assert report["drift_share_threshold"].value == 0.99 and report["dataset_drift"].value is False
    assert "wasserstein" in report["columns"].value
    [evaluation] = check_evaluations(result, "no_dataset_drift")
    assert evaluation.passed is True
