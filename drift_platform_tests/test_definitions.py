"""The code location: what the UI shows, and what loading it costs."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from drift_platform.definitions import defs

REPO = Path(__file__).resolve().parents[1]
GROUPS = {
    "reference_data": "ingestion",
    "current_batch": "ingestion",
    "combined_history": "ingestion",
    "drift_report": "monitoring",
    "drift_trend": "monitoring",
    "trained_model": "training",
    "champion_model": "training",
    "predictions": "monitoring",
}


def test_assets_in_their_groups_with_descriptions_kinds_and_owners() -> None:
    graph = defs.resolve_asset_graph()
    specs = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    assert set(specs) == set(GROUPS)
    for name, group in GROUPS.items():
        node = specs[name]
        assert node.group_name == group
        assert node.description and len(node.description) > 40
        assert node.owners == ["team:ml-platform"]
        assert {t for t in node.tags if t.startswith("dagster/kind/")}
    kinds = {k.removeprefix("dagster/kind/") for n in specs.values() for k in n.tags if k.startswith("dagster/kind/")}
    assert {"warehouse", "evidently", "scikitlearn", "storage"} <= kinds
    assert specs["current_batch"].partitions_def == specs["drift_report"].partitions_def
    assert specs["reference_data"].partitions_def is None and specs["trained_model"].partitions_def is None
    assert graph.get(dg.AssetKey("trained_model")).parent_keys == {dg.AssetKey("combined_history")}


def test_check_job_schedule_and_sensor() -> None:
    graph = defs.resolve_asset_graph()
    check_key = dg.AssetCheckKey(dg.AssetKey("drift_report"), "no_dataset_drift")
    assert check_key in graph.asset_check_keys
    weekly = defs.resolve_job_def("weekly_drift_job")
    assert {k.to_user_string() for k in weekly.asset_layer.executable_asset_keys} == {
        "current_batch", "drift_report", "combined_history", "predictions"
    }  # fmt: skip
    assert check_key in weekly.asset_layer.asset_graph.asset_check_keys
    retrain = defs.resolve_job_def("retrain_job")
    assert {k.to_user_string() for k in retrain.asset_layer.executable_asset_keys} == {"trained_model", "champion_model"}
    quality_key = dg.AssetCheckKey(dg.AssetKey("predictions"), "no_model_degradation")
    assert quality_key in weekly.asset_layer.asset_graph.asset_check_keys
    assert defs.resolve_job_def("champion_rollback_job").tags["drift_platform/retrain"] == "true"
    assert defs.resolve_job_def("model_versions_job")
    schedule = defs.resolve_schedule_def("weekly_drift_schedule")
    assert schedule.cron_schedule == "0 11 * * 1" and schedule.execution_timezone == "UTC"
    assert schedule.job_name == "weekly_drift_job"
    partitions = weekly.partitions_def
    assert partitions.get_first_partition_key() == "2011-01-31"


def test_schedule_runs_the_week_that_just_ended() -> None:
    schedule = defs.resolve_schedule_def("weekly_drift_schedule")
    monday = dt.datetime(2011, 7, 11, 11, 0, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=monday)
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2011-07-04"


def test_code_location_loads_without_heavy_imports() -> None:
    probe = (
        "import sys, drift_platform.definitions as d; "
        "heavy = [m for m in ('evidently', 'sklearn', 'pandas', 'scipy', 'dagster_aws', 'dagster_slack') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == ""


def test_dg_check_defs_passes(tmp_path) -> None:
    dg_cli = Path(sys.executable).parent / "dg"
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(dg_cli), "check", "defs"], capture_output=True, text=True, cwd=REPO, timeout=300, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
