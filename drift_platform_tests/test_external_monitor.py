"""A monitor of a model trained elsewhere (`model: {source: external}`), loaded from its defs.yaml as the code
location loads it: no training assets or jobs; per period its logged predictions in the predictions table,
judged by the quality check against the reference's own logged predictions; a failed evaluation launches the
team's `on_failure_job` once (two ticks, a lost cursor, a real daemon started afterwards on the same instance).

The source is the shipped churn sample with the columns a team's model logs added: its probability of churn and
its predicted class. The logged model is good and steady (its log loss in the reference's weeks varies little)
until STALE, whose logged probabilities are pushed up while the inputs stay quiet: the output drifts and the
log loss jumps, with no feature moving.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from drift_platform.core.names import (
    EXTERNAL_MODEL_VERSION,
    NO_MODEL_DEGRADATION_CHECK,
    NO_PREDICTION_DRIFT_CHECK,
    TAG_EVALUATION_ID,
    TAG_FAILED_CHECKS,
    TAG_MONITOR,
    TAG_PERIOD,
    TAG_TRIGGER,
)
from drift_platform.definitions import DEFS_FOLDER, OnFailureJobError, build_definitions
from drift_platform_tests.conftest import REPO, slack_alerter
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import check_evaluations, finished_ticks
from loopback.dagster_stack import BIN, CODE_LOCATION, ManagedProcess, wait_for

MONITOR = "churn_external"
QUIET, STALE = "2023-02-13", "2023-02-20"
JOB = "review_stale_model_job"
SENSOR = f"{MONITOR}_on_failure_sensor"


def external_source(path: Path) -> None:
    """The churn sample plus the logged outputs of a model trained elsewhere: `churn_score` (its probability of
    churn: high for churners, low for the rest, with noise; seeded) and `churn_predicted` (score > 0.5), rows in
    time order. In the STALE week the scores are pushed up by 0.35 (a stale calibration)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(REPO / "data" / "churn_snapshots.csv")
    rng = np.random.default_rng(21)
    score = 0.08 + 0.5 * frame["churned"] + rng.normal(0.0, 0.1, len(frame))
    when = pd.to_datetime(frame["snapshot_date"])
    stale = (when >= pd.Timestamp(STALE)) & (when < pd.Timestamp(STALE) + pd.Timedelta(days=7))
    score = np.clip(score + 0.35 * stale, 0.01, 0.99).round(4)
    frame["churn_score"], frame["churn_predicted"] = score, (score > 0.5).astype(int)
    frame.sort_values(["snapshot_date", "customer_id"], kind="stable").to_csv(path, index=False)


def write_external_monitor(defs: Path, on_failure_job: str = JOB) -> Path:
    """A defs folder with the external churn monitor (its spec and source beside its defs.yaml) and the shipped
    team jobs."""
    folder = defs / "monitors" / MONITOR
    folder.mkdir(parents=True)
    spec = yaml.safe_load((REPO / "data" / "churn.yaml").read_text())
    spec["columns"].update({"churn_score": "float", "churn_predicted": "int"})
    spec.update(name="churn_external", prediction_column="churn_predicted", probability_columns={1: "churn_score"})
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    external_source(folder / "source.csv")
    attributes = {
        "spec": "spec.yaml", "source": "source.csv", "cadence": "weekly", "timezone": "UTC",
        "model": {"source": "external", "on_failure_job": on_failure_job},
        "drift": {"drift_share": 0.3, "per_column_threshold": {"support_tickets": 0.15}},
        "multivariate": {"enabled": False},
        "quality": {"bound": "baseline", "min_period_rows": 100},
        "retrain_on": [NO_PREDICTION_DRIFT_CHECK, NO_MODEL_DEGRADATION_CHECK],
        "sensor_interval_seconds": 3,
    }  # fmt: skip
    document = {"type": "drift_platform.DriftMonitor", "attributes": attributes}
    (folder / "defs.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    shutil.copytree(DEFS_FOLDER / "team_jobs", defs / "team_jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return defs


def test_the_graph_has_no_training_assets_and_the_team_job_is_loaded(tmp_path: Path) -> None:
    defs = build_definitions(defs_folder=write_external_monitor(tmp_path / "defs"),
                             env={"DRIFT_DATA_DIR": str(tmp_path / "data")})
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert keys == {f"{MONITOR}/{name}" for name in ("reference_data", "current_batch", "drift_report",
                                                     "combined_history", "predictions", "drift_trend")}
    jobs = {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")}
    assert jobs == {f"{MONITOR}_drift_job", f"{MONITOR}_viewer_sync_job", JOB}
    checks = {key.name for key in repository.asset_graph.asset_check_keys}
    assert {NO_MODEL_DEGRADATION_CHECK, NO_PREDICTION_DRIFT_CHECK, "no_dataset_drift"} <= checks
    sensors = {sensor.name for sensor in repository.sensor_defs}
    assert SENSOR in sensors and f"{MONITOR}_retrain_on_drift_sensor" not in sensors
    assert repository.get_sensor_def(SENSOR).job_name == JOB


def test_an_on_failure_job_the_code_location_lacks_fails_the_load(tmp_path: Path) -> None:
    defs = write_external_monitor(tmp_path / "defs", on_failure_job="no_such_job")
    with pytest.raises(OnFailureJobError) as failed:
        build_definitions(defs_folder=defs, env={"DRIFT_DATA_DIR": str(tmp_path / "data")})
    message = str(failed.value)
    assert str(defs / "monitors" / MONITOR / "defs.yaml") in message and "'no_such_job'" in message
    assert JOB in message  # the jobs it could have named


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The external monitor's code location and a persistent instance (DAGSTER_HOME on disk, as a daemon reads
    it), with the QUIET and the STALE week's drift job run."""
    root = tmp_path_factory.mktemp("external")
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {"DAGSTER_HOME": str(home), "DRIFT_DATA_DIR": str(root / "data")}
    defs_folder = write_external_monitor(root / "defs")
    defs = build_definitions(defs_folder=defs_folder, env=env)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        started = time.monotonic()
        runs = {week: defs.resolve_job_def(f"{MONITOR}_drift_job").execute_in_process(
            partition_key=week, instance=instance) for week in (QUIET, STALE)}
        print(f"two drift job runs of the external monitor: {time.monotonic() - started:.1f} s")
        yield {"root": root, "home": home, "env": env, "defs_folder": defs_folder, "defs": defs,
               "instance": instance, "runs": runs}


def resources(world) -> dict:
    """The deployment's resources of the world's environment (its warehouse and store on the data folder)."""
    from drift_platform.resources.deployment import DeploymentSettings

    return DeploymentSettings.from_env(world["env"]).resources()


def predictions_rows(world):
    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.ml.predictions import predictions_layout

    warehouse = resources(world)["warehouse"]
    spec = DatasetSpec.from_yaml(world["defs_folder"] / "monitors" / MONITOR / "spec.yaml")
    return warehouse.read(f"{MONITOR}_predictions", predictions_layout(spec, [0, 1]))


def test_each_period_writes_the_logged_predictions_and_the_quality_check_judges_them(world) -> None:
    import pandas as pd

    rows = predictions_rows(world)
    assert set(rows["model_version"]) == {EXTERNAL_MODEL_VERSION}
    weeks = pd.to_datetime(rows["snapshot_date"]).dt.to_period("W-SUN").dt.start_time.dt.strftime("%Y-%m-%d")
    assert set(weeks) == {QUIET, STALE}
    source = pd.read_csv(world["defs_folder"] / "monitors" / MONITOR / "source.csv")
    logged = source.set_index(["customer_id", "snapshot_date"])
    stored = rows.assign(snapshot_date=rows["snapshot_date"].dt.strftime("%Y-%m-%d")).set_index(
        ["customer_id", "snapshot_date"])
    joined = stored.join(logged[["churn_score", "churn_predicted"]])
    assert len(joined) == len(rows) and joined["churn_score"].notna().all()
    assert (joined["proba_1"] - joined["churn_score"]).abs().max() < 1e-9
    assert (joined["proba_0"] + joined["proba_1"] - 1).abs().max() < 1e-9
    assert (joined["predicted_churned"] == joined["churn_predicted"]).all()

    quiet = check_evaluations(world["runs"][QUIET], NO_MODEL_DEGRADATION_CHECK)
    stale = check_evaluations(world["runs"][STALE], NO_MODEL_DEGRADATION_CHECK)
    assert [e.passed for e in quiet] == [True] and [e.passed for e in stale] == [False]
    metadata = stale[0].metadata
    assert metadata["model_version"].value == EXTERNAL_MODEL_VERSION and metadata["metric"].value == "log_loss"
    assert metadata["bound_method"].value == "baseline" and metadata["baseline_periods"].value == 6
    assert metadata["log_loss"].value > metadata["bound_log_loss"].value
    assert quiet[0].metadata["log_loss"].value < quiet[0].metadata["bound_log_loss"].value
    [drift] = check_evaluations(world["runs"][STALE], NO_PREDICTION_DRIFT_CHECK)
    assert not drift.passed and drift.metadata["column"].value == "proba_1"
    assert [e.passed for e in check_evaluations(world["runs"][QUIET], NO_PREDICTION_DRIFT_CHECK)] == [True]


def tick(world, cursor: str | None, slack: SlackRecorder) -> dg.SensorResult:
    defs = world["defs"]
    with dg.build_sensor_context(instance=world["instance"], cursor=cursor, definitions=defs,
                                 resources={"alerts": slack_alerter(slack, max_retries=0)}) as context:
        return defs.resolve_sensor_def(SENSOR)(context)


def job_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(job_name=JOB)))




def test_a_failed_evaluation_launches_the_on_failure_job_once(world, slack: SlackRecorder) -> None:
    instance = world["instance"]
    first = tick(world, None, slack)
    [request] = first.run_requests
    assert request.job_name == JOB and request.run_key.startswith(f"{NO_MODEL_DEGRADATION_CHECK}:")
    assert request.tags[TAG_MONITOR] == MONITOR and request.tags[TAG_PERIOD] == STALE
    assert request.tags[TAG_FAILED_CHECKS] == f"{NO_MODEL_DEGRADATION_CHECK},{NO_PREDICTION_DRIFT_CHECK}"
    assert request.tags[TAG_TRIGGER] == "quality+prediction_drift"
    [alert] = slack.messages()
    assert f"*[{MONITOR}] Prediction drift* in week {STALE}" in alert["text"] and "`proba_1`" in alert["text"]
    assert f"*[{MONITOR}] Model degradation* in week {STALE}" in alert["text"] and f"`{JOB}`" in alert["text"]

    second = tick(world, first.cursor, slack)
    assert second.run_requests == [] and len(slack.messages()) == 1
    lost = tick(world, None, slack)  # the cursor lost before the run was launched: the same run key again
    assert [r.run_key for r in lost.run_requests] == [request.run_key] and len(slack.messages()) == 1

    # what the daemon does with the request: a run of the team's job with its tags; it files the ticket
    run = world["defs"].resolve_job_def(JOB).execute_in_process(instance=instance, tags=request.tags)
    assert run.success
    store = resources(world)["store"].scoped(MONITOR)
    ticket = json.loads(store.read_bytes(f"reviews/{STALE}-{request.tags[TAG_EVALUATION_ID]}.json"))
    assert ticket["period"] == STALE and ticket["failed_checks"] == [NO_MODEL_DEGRADATION_CHECK,
                                                                      NO_PREDICTION_DRIFT_CHECK]
    after = tick(world, None, slack)  # lost again after the run: the instance's run settles it
    assert after.run_requests == [] and len(slack.messages()) == 1
    assert (f"{JOB} for evaluation {request.tags[TAG_EVALUATION_ID]} already ran: run {run.run_id}"
            in after.skip_reason.skip_message)
    assert [r.run_id for r in job_runs(instance)] == [run.run_id]

    daemon_launches_nothing_again(world, run.run_id, request.tags[TAG_EVALUATION_ID])


def test_without_an_on_failure_job_a_failed_evaluation_only_alerts(world) -> None:
    """The same failed evaluations planned for the monitor without an on_failure_job: one alert, no run."""
    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.settings import Monitor
    from drift_platform.lib.sensors.retrain import DriftSensorCursor, plan_retrains, scan, watched_checks
    from drift_platform.resources import Alerter

    folder = world["defs_folder"] / "monitors" / MONITOR
    monitor = Monitor.model_validate({
        "name": MONITOR, "spec": DatasetSpec.from_yaml(folder / "spec.yaml"), "source": str(folder / "source.csv"),
        "model": {"source": "external"}, "multivariate": {"enabled": False},
        "retrain_on": [NO_PREDICTION_DRIFT_CHECK, NO_MODEL_DEGRADATION_CHECK],
    })  # fmt: skip
    found = scan(world["instance"], DriftSensorCursor(), watched_checks(monitor))
    plan = plan_retrains(monitor, found.failed.values(), Alerter(), now=0.0)
    assert plan.requests == [] and plan.already_ran == []
    [alert] = plan.alerts
    assert f"*[{MONITOR}] Prediction drift* in week {STALE}" in alert["text"]
    assert alert["text"].endswith("Alert only: the monitor names no on_failure_job (the model is trained and served "
                                  "elsewhere).")


def daemon_launches_nothing_again(world, run_id: str, evaluation: str) -> None:
    """A real `dagster-daemon run` over the same DAGSTER_HOME and code location: its sensor starts with an empty
    cursor, reads the failed evaluation again, finds the job's run tagged with it and launches nothing."""
    logs = world["root"] / "logs"
    logs.mkdir(exist_ok=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DRIFT_", "DAGSTER_", "SLACK_"))},
           **world["env"], "DRIFT_STACK_DEFS_FOLDER": str(world["defs_folder"]), "PYTHONUNBUFFERED": "1"}
    daemon = ManagedProcess("daemon", [str(BIN / "dagster-daemon"), "run", "-m", CODE_LOCATION], env, logs).start()
    started = time.monotonic()
    try:
        ticks = wait_for(lambda: (t := finished_ticks(world["instance"], SENSOR)) and len(t) >= 2 and t, 240,
                         f"two finished ticks of {SENSOR}", interval=1.0, diagnostics=daemon.log_tail)
    finally:
        daemon.stop()
    print(f"daemon to two ticks: {time.monotonic() - started:.1f} s")
    assert [t.status.value for t in ticks] == ["SKIPPED"] * len(ticks), [t.tick_data for t in ticks]
    assert not any(t.run_ids for t in ticks)
    assert f"{JOB} for evaluation {evaluation} already ran: run {run_id}" in ticks[0].skip_reason
    assert [r.run_id for r in job_runs(world["instance"])] == [run_id]
