"""The code location: the monitors of the defs folder, what the UI shows of them, what loading costs, and the
DriftMonitor component as a team uses it (a new monitor by YAML alone; broken YAML named file and key; dg)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from drift_platform.definitions import build_definitions, defs

REPO = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).parent / "dg"
MONITORS = {"bike_sharing": "weekly", "grid_load": "daily", "football": "weekly", "churn": "weekly",
            "paylater": "weekly"}
LATE_LABELS_MONITORS = {"paylater"}  # labels: {source, label_delay}: a labels asset too
EXTERNAL_MONITORS = {"lead_scoring": "weekly"}  # model: {source: external}: no training assets
STAGES = {
    "reference_data": "ingestion",
    "current_batch": "ingestion",
    "combined_history": "ingestion",
    "drift_report": "monitoring",
    "drift_trend": "monitoring",
    "predictions": "monitoring",
    "trained_model": "training",
    "champion_model": "training",
}
TRAINING = {"trained_model", "champion_model"}  # a platform-served model's; an external monitor has neither
MODEL_JOBS = ("retrain_job", "rollback_job", "model_versions_job", "migrate_models_job")  # platform-served only


def test_every_monitor_has_its_assets_in_its_own_group() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {f"{m}/{a}" for m in MONITORS for a in STAGES} | {
        f"{m}/{a}" for m in EXTERNAL_MONITORS for a in STAGES if a not in TRAINING} | {
        f"{m}/labels" for m in LATE_LABELS_MONITORS}
    for monitor in (*MONITORS, *EXTERNAL_MONITORS):
        external = monitor in EXTERNAL_MONITORS
        for name, stage in STAGES.items():
            key = dg.AssetKey([monitor, name])
            if external and name in TRAINING:  # trained and served elsewhere: absent, not a stub
                assert not graph.has(key), key
                continue
            node = graph.get(key)
            assert node.group_name == monitor  # the UI groups by monitor
            assert node.tags["drift_platform/stage"] == stage
            assert node.description and len(node.description) > 40
            assert {t for t in node.tags if t.startswith("dagster/kind/")}
        parents = {name: {k.path[1] for k in graph.get(dg.AssetKey([monitor, name])).parent_keys}
                   for name, stage in STAGES.items() if not (external and name in TRAINING)}
        # the drift report tests the model's output too: the champion's predictions, or the logged ones (no model
        # asset); an external model's predictions are read from the batch, judged against the reference's
        model = set() if external else {"champion_model"}
        assert parents["drift_report"] == {"current_batch", "reference_data", *model}
        assert parents["predictions"] == {"current_batch", *model, *(["reference_data"] if external else [])}
        if not external:
            assert parents["trained_model"] == {"combined_history"}
            assert parents["champion_model"] == {"trained_model"}
    assert graph.get(dg.AssetKey(["bike_sharing", "drift_report"])).owners == ["team:ml-platform"]
    assert graph.get(dg.AssetKey(["grid_load", "drift_report"])).owners == ["team:energy-forecasting"]
    assert graph.get(dg.AssetKey(["lead_scoring", "drift_report"])).owners == ["team:sales-ops",
                                                                                "team:revenue-data-science"]
    kinds = {k.removeprefix("dagster/kind/") for k in graph.get(dg.AssetKey(["grid_load", "drift_report"])).tags}
    assert "evidently" in kinds


@pytest.mark.parametrize(("monitor", "cron", "first", "timezone"), [
    ("bike_sharing", "0 11 * * 1", "2011-01-31", "UTC"), ("grid_load", "30 6 * * *", "2011-01-31", "UTC"),
    ("football", "0 9 * * 1", "2021-09-13", "Europe/London"), ("churn", "0 7 * * 1", "2023-02-13", "UTC"),
    ("lead_scoring", "0 8 * * 1", "2024-04-29", "UTC"), ("paylater", "0 6 * * 1", "2024-04-29", "UTC"),
])  # fmt: skip
def test_checks_jobs_schedule_and_sensors_are_named_after_the_monitor(monitor: str, cron: str, first: str,
                                                                     timezone: str) -> None:
    graph = defs.resolve_asset_graph()
    checks = {dg.AssetCheckKey(dg.AssetKey([monitor, "drift_report"]), name) for name in (
        "no_dataset_drift", "no_multivariate_drift", "no_data_quality_regression", "no_prediction_drift")}
    late = monitor in LATE_LABELS_MONITORS  # judged when its labels land; estimated when its features do
    checks.add(dg.AssetCheckKey(dg.AssetKey([monitor, "labels" if late else "predictions"]), "no_model_degradation"))
    if late:
        checks.add(dg.AssetCheckKey(dg.AssetKey([monitor, "predictions"]), "no_estimated_degradation"))
    assert {k for k in graph.asset_check_keys if k.asset_key.path[0] == monitor} == checks  # five (six if late)
    drift_job = defs.resolve_job_def(f"{monitor}_drift_job")
    assert {k.to_user_string() for k in drift_job.asset_layer.executable_asset_keys} == {
        f"{monitor}/{a}" for a in ("current_batch", "drift_report", "combined_history", "predictions")
    }
    assert {c for c in checks if c.asset_key.path[1] != "labels"} <= drift_job.asset_layer.asset_graph.asset_check_keys
    assert drift_job.tags["drift_platform/monitor"] == monitor
    schedule = defs.resolve_schedule_def(f"{monitor}_drift_schedule")
    assert schedule.cron_schedule == cron and schedule.execution_timezone == timezone
    assert schedule.job_name == f"{monitor}_drift_job"
    assert drift_job.partitions_def.get_first_partition_key() == first
    jobs = {j.name for j in defs.jobs if j.name.startswith(f"{monitor}_")}
    sensors = {s.name for s in defs.sensors if s.name.startswith(f"{monitor}_")}
    if monitor in EXTERNAL_MONITORS:  # nothing to retrain, roll back or list: the team's own job on a failure
        assert jobs == {f"{monitor}_drift_job", f"{monitor}_viewer_sync_job"}
        assert sensors == {f"{monitor}_on_failure_sensor", f"{monitor}_landing_sensor", f"{monitor}_drift_trend_sensor"}
        on_failure = defs.resolve_sensor_def(f"{monitor}_on_failure_sensor")
        assert on_failure.job_name == on_failure.metadata["on_failure_job"].value == "review_stale_model_job"
        assert defs.resolve_job_def("review_stale_model_job")  # drift_platform/defs/team_jobs/
        return
    assert jobs == {f"{monitor}_{job}" for job in ("drift_job", "viewer_sync_job", *MODEL_JOBS,
                                                    *(["labels_job"] if late else []))}
    assert {s.name for s in defs.schedules if s.name.startswith(f"{monitor}_")} == {
        f"{monitor}_drift_schedule", *([f"{monitor}_labels_schedule"] if late else [])}
    if late:  # the labels job lands the labels asset alone (its check with it), on the drift schedule's clock
        labels_job = defs.resolve_job_def(f"{monitor}_labels_job")
        assert {k.to_user_string() for k in labels_job.asset_layer.executable_asset_keys} == {f"{monitor}/labels"}
        labels_schedule = defs.resolve_schedule_def(f"{monitor}_labels_schedule")
        assert labels_schedule.job_name == labels_job.name and labels_schedule.cron_schedule == cron
    assert sensors == {f"{monitor}_retrain_on_drift_sensor", f"{monitor}_landing_sensor",
                       f"{monitor}_drift_trend_sensor"}
    retrain = defs.resolve_job_def(f"{monitor}_retrain_job")
    assert {k.to_user_string() for k in retrain.asset_layer.executable_asset_keys} == {
        f"{monitor}/trained_model", f"{monitor}/champion_model"
    }
    assert defs.resolve_sensor_def(f"{monitor}_retrain_on_drift_sensor").job_name == f"{monitor}_retrain_job"
    # retrains and rollbacks of one monitor run one at a time (dagster.yaml limits per tag value)
    assert retrain.tags["drift_platform/retrain"] == monitor
    assert defs.resolve_job_def(f"{monitor}_rollback_job").tags["drift_platform/retrain"] == monitor


def test_team_jobs_are_loaded_with_the_monitors() -> None:
    """drift_platform/defs/team_jobs/: a folder of Python modules beside the monitors' YAML; its jobs are the
    code location's (an external monitor's on_failure_job names one), owned by no monitor."""
    modules = sorted(p.stem for p in (REPO / "drift_platform" / "defs" / "team_jobs").glob("*.py"))
    assert modules == ["review_stale_model"]
    job = defs.resolve_job_def("review_stale_model_job")
    assert "drift_platform/monitor" not in job.tags and job.partitions_def is None
    # it belongs to a team that owns the monitor whose on_failure_job it is
    owners = defs.resolve_asset_graph().get(dg.AssetKey(["lead_scoring", "drift_report"])).owners
    assert f"team:{job.tags['team']}" in owners
    monitors = (*MONITORS, *EXTERNAL_MONITORS)
    assert {j.name for j in defs.jobs if not j.name.startswith(monitors) and not j.name.startswith("__")} == {
        "review_stale_model_job"}


@pytest.mark.parametrize(("monitor", "when", "period"), [
    ("bike_sharing", dt.datetime(2011, 7, 11, 11, 0, tzinfo=dt.UTC), "2011-07-04"),
    ("grid_load", dt.datetime(2011, 7, 19, 6, 30, tzinfo=dt.UTC), "2011-07-18"),
])  # fmt: skip
def test_schedule_runs_the_period_that_just_ended(monitor: str, when: dt.datetime, period: str) -> None:
    schedule = defs.resolve_schedule_def(f"{monitor}_drift_schedule")
    with dg.instance_for_test() as instance, dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when
    ) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == period


def test_code_location_loads_without_heavy_imports() -> None:
    probe = (
        "import sys, drift_platform.definitions as d; "
        "heavy = [m for m in ('evidently', 'sklearn', 'pandas', 'scipy', 'dagster_aws', 'dagster_slack') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == ""


def test_pure_modules_import_without_dagster() -> None:
    probe = ("import sys, drift_platform.core.stats.drift, drift_platform.core.ml.training, drift_platform.core.settings, "
             "drift_platform.core.ml.model_registry; print('dagster' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_retired_variables_stop_the_load_with_the_way_forward() -> None:
    from drift_platform.resources.deployment import DeploymentSettings, SettingsError

    with pytest.raises(SettingsError, match="DRIFT_MODEL_STORE is no longer read: use DRIFT_STORE_URL"):
        DeploymentSettings.from_env({"DRIFT_MODEL_STORE": "s3://bucket/models"})
    with pytest.raises(SettingsError, match="DRIFT_SCHEDULE_TIMEZONE is no longer read: use `timezone:`"):
        DeploymentSettings.from_env({"DRIFT_SCHEDULE_TIMEZONE": "Europe/Berlin"})


# --- a team adds a monitor by YAML alone ------------------------------------------------------------------------
THIRD = """\
type: drift_platform.DriftMonitor
attributes:
  description: The grid's hourly load, watched week by week by another team.
  spec: spec.yaml
  source: {source}
  cadence: weekly
  drift: {{drift_share: 0.4}}
  retry: {{delay_seconds: 0.5}}
"""


def write_monitor(folder: Path, name: str, text: str, spec: str | None = None) -> Path:
    target = folder / "monitors" / name
    target.mkdir(parents=True, exist_ok=True)
    (target / "defs.yaml").write_text(text)
    if spec is not None:
        (target / "spec.yaml").write_text(spec)
    return target / "defs.yaml"


def third_spec() -> str:
    spec = (REPO / "data" / "grid_load.yaml").read_text()
    return spec.replace("name: grid_load_hourly", "name: grid_load_weekly").replace(
        "drift_columns: [temperature_c, humidity, wind_speed, solar_irradiance, weather]",
        "drift_columns: [temperature_c, humidity, weather]",
    )


def test_a_third_monitor_from_a_defs_yaml_alone(tmp_path: Path) -> None:
    """No code: a defs.yaml and its spec in a defs folder are a monitor with its own assets, jobs, tables and
    store folder, next to which the shipped ones would run unchanged."""
    folder = tmp_path / "defs"
    write_monitor(folder, "grid_weekly", THIRD.format(source=REPO / "data" / "grid_load_hourly.csv"), third_spec())
    env = {"DRIFT_DATA_DIR": str(tmp_path / "data")}
    third = build_definitions(defs_folder=folder, env=env)
    assert {j.name for j in third.jobs} >= {"grid_weekly_drift_job", "grid_weekly_retrain_job"}

    with dg.instance_for_test() as instance:
        reference = third.resolve_assets_def(dg.AssetKey(["grid_weekly", "reference_data"]))
        assert dg.materialize([reference], instance=instance,
                              selection=[dg.AssetKey(["grid_weekly", "reference_data"])]).success
        job = third.resolve_job_def("grid_weekly_drift_job")
        for week in ("2011-01-31", "2011-07-18"):
            assert job.execute_in_process(partition_key=week, instance=instance).success
        reports = {
            record.partition_key: record.asset_materialization.metadata
            for record in instance.fetch_materializations(dg.AssetKey(["grid_weekly", "drift_report"]), limit=10).records
        }
    assert set(reports) == {"2011-01-31", "2011-07-18"}
    assert reports["2011-01-31"]["dataset_drift"].value is False  # a winter week against January
    assert reports["2011-07-18"]["dataset_drift"].value is True  # the heat wave
    assert reports["2011-07-18"]["drift_share_threshold"].value == 0.4  # its own YAML's setting
    assert reports["2011-07-18"]["monitored_columns"].value == 3  # its own spec's drift columns
    report = Path(reports["2011-07-18"]["report_html"].value)
    assert report.is_file() and report.is_relative_to(tmp_path / "data" / "store" / "grid_weekly" / "drift_reports")

    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.resources import WarehouseResource

    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}")
    layout = DatasetSpec.from_yaml(folder / "monitors" / "grid_weekly" / "spec.yaml").layout
    history = warehouse.read("grid_weekly_history", layout)
    assert len(history) == 28 * 24 + 2 * 7 * 24  # the reference and two weeks, hourly, each row once
    assert history["timestamp"].is_unique


# --- broken YAML: the file and the key named ------------------------------------------------------------------
GOOD = """\
type: drift_platform.DriftMonitor
attributes:
  spec: "{spec}"
  source: "{source}"
  cadence: daily
"""
BROKEN = {
    "unknown key": ("  retrian_on: [no_dataset_drift]\n", "retrian_on"),
    "wrong type": ("  sensor_interval_seconds: soon\n", "sensor_interval_seconds"),
    "wrong type, nested": ("  gate: {eval_periods: many}\n", "eval_periods"),
    "missing spec": ("", "missing.yaml"),
    "bad cadence": ("", "cadence"),
    "weekly, not a Monday": ("", "spec.first_period"),
    "bad timezone": ("  timezone: Mars/Olympus\n", "timezone"),
}


def broken_yaml(case: str) -> str:
    text = GOOD.format(spec=REPO / "data" / "grid_load.yaml", source=REPO / "data" / "grid_load_hourly.csv")
    if case == "missing spec":
        text = text.replace(str(REPO / "data" / "grid_load.yaml"), "missing.yaml")
    if case == "bad cadence":
        text = text.replace("cadence: daily", "cadence: fortnightly")
    if case == "weekly, not a Monday":
        text = text.replace(str(REPO / "data" / "grid_load.yaml"), "spec.yaml").replace("daily", "weekly")
    return text + BROKEN[case][0]


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_defs_yaml_fails_the_load_naming_file_and_key(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "defs"
    spec = (REPO / "data" / "grid_load.yaml").read_text().replace("first_period: 2011-01-31", "first_period: 2011-02-01")
    path = write_monitor(folder, "broken", broken_yaml(case), spec if case == "weekly, not a Monday" else None)
    with pytest.raises(Exception) as excinfo:
        build_definitions(defs_folder=folder, env={"DRIFT_DATA_DIR": str(tmp_path / "data")})
    chain, error = [], excinfo.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__
    message = "\n".join(chain)
    assert str(path) in message, message
    assert BROKEN[case][1] in message, message


# --- dg: list, scaffold, check --------------------------------------------------------------------------------
def project_copy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """This project in a temp folder (its code first on PYTHONPATH), so that dg can check and scaffold YAML
    there without touching the working tree."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "pyproject.toml", root)
    shutil.copytree(REPO / "drift_platform", root / "drift_platform", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "data").symlink_to(REPO / "data")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DRIFT_", "DAGSTER_"))},
           "DAGSTER_HOME": str(home), "PYTHONPATH": str(root), "DRIFT_DATA_DIR": str(tmp_path / "data")}
    return root, env


def dg_run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DG), *args], capture_output=True, text=True, cwd=root, timeout=300, env=env)


@pytest.mark.slow
def test_dg_lists_scaffolds_and_checks_the_component(tmp_path: Path) -> None:
    root, env = project_copy(tmp_path)
    listed = dg_run(root, env, "list", "components", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"drift_platform.DriftMonitor"' in listed.stdout

    scaffolded = dg_run(root, env, "scaffold", "defs", "drift_platform.DriftMonitor", "monitors/orders")
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    made = root / "drift_platform" / "defs" / "monitors" / "orders"
    assert (made / "defs.yaml").is_file() and (made / "spec.yaml").is_file()
    assert "type: drift_platform.DriftMonitor" in (made / "defs.yaml").read_text()

    for check in ("yaml", "defs"):
        result = dg_run(root, env, "check", check)
        assert result.returncode == 0, result.stdout + result.stderr
    # the scaffolded monitor works as it is: it loads beside the shipped ones, and its reference materializes
    everything = build_definitions(defs_folder=root / "drift_platform" / "defs", env={"DRIFT_DATA_DIR": str(tmp_path / "d")})
    assert {s.name for s in everything.schedules} == {
        f"{m}_drift_schedule" for m in (*MONITORS, *EXTERNAL_MONITORS, "orders")} | {
        f"{m}_labels_schedule" for m in LATE_LABELS_MONITORS}
    with dg.instance_for_test() as instance:
        key = dg.AssetKey(["orders", "reference_data"])
        assert dg.materialize([everything.resolve_assets_def(key)], instance=instance, selection=[key]).success


@pytest.mark.slow
@pytest.mark.parametrize("case", ["unknown key", "bad cadence", "missing spec"])
def test_dg_check_refuses_a_broken_defs_yaml(tmp_path: Path, case: str) -> None:
    """`dg check defs` loads the code location and fails naming the file and the key. `dg check yaml` checks the
    JSON schema only: it catches an unknown key, not a value that a template string could have produced (dg 1.13
    also checks only one defs.yaml per component type, so the broken monitor is the project's only one here)."""
    root, env = project_copy(tmp_path)
    monitors = root / "drift_platform" / "defs" / "monitors"
    shutil.rmtree(monitors)
    path = write_monitor(monitors.parent, "broken", broken_yaml(case))
    loaded = dg_run(root, env, "check", "defs")
    assert loaded.returncode != 0
    output = loaded.stdout + loaded.stderr
    assert str(path) in output and BROKEN[case][1] in output, output
    if case == "unknown key":
        checked = dg_run(root, env, "check", "yaml")
        assert checked.returncode != 0
        assert f"{path}:" in checked.stdout and "retrian_on" in checked.stdout, checked.stdout


def test_readme_add_a_monitor_commands_are_the_ones_tested() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Add a monitor", 1)[1].split("\n## ", 1)[0]
    for command in ("dg scaffold defs drift_platform.DriftMonitor monitors/", "dg check defs", "make dev"):
        assert command in section, command


def test_shipped_monitors_are_documented_in_their_yaml() -> None:
    for monitor in (*MONITORS, *EXTERNAL_MONITORS):
        text = (REPO / "drift_platform" / "defs" / "monitors" / monitor / "defs.yaml").read_text()
        assert textwrap.dedent(text).startswith("#") and "type: drift_platform.DriftMonitor" in text
