"""A monitor's jobs, by the kind of its model, and its schedule.

A platform-served model's monitor has six: the drift job (one period), the retrain job (with the
champion/challenger gate), the model registry's hand operations (rolling the champion back, listing the versions,
migrating pickled versions to skops) and the viewer sync (pushing the reports Evidently's UI missed). An external
model's monitor (`model: {source: external}`: trained and served elsewhere) has the drift job and the viewer sync
only: nothing to retrain, roll back or list; its failures launch the team's own `on_failure_job`
(lib/sensors/retrain.py)."""

import dagster as dg

from drift_platform.core.names import TAG_MONITOR, TAG_RETRAIN
from drift_platform.core.settings import Monitor
from drift_platform.lib.ops.migrate_models import build_migrate_models_op
from drift_platform.lib.ops.registry import build_registry_ops
from drift_platform.lib.ops.viewer_sync import build_viewer_sync


def retry_policy(monitor: Monitor) -> dg.RetryPolicy:
    """Transient faults (the warehouse restarting, S3 or the source unreachable) are retried with backoff: after
    delay, then 2 x delay. Bad data is not retried (the assets raise Failure(allow_retries=False))."""
    return dg.RetryPolicy(
        max_retries=monitor.retry.max_retries, delay=monitor.retry.delay_seconds, backoff=dg.Backoff.EXPONENTIAL
    )


def build_jobs(monitor: Monitor, assets: dict[str, dg.AssetsDefinition]) -> dict[str, dg.JobDefinition]:
    """The monitor's jobs by purpose: "drift" and "viewer_sync" always; "labels" when its labels arrive late;
    "retrain", "rollback", "model_versions" and "migrate_models" for a platform-served model (`model_jobs`), none
    of them for an external one."""
    jobs = {"drift": build_drift_job(monitor, assets), "viewer_sync": build_viewer_sync_job(monitor)}
    if monitor.late_labels:
        jobs["labels"] = build_labels_job(monitor, assets)
    if not monitor.external:
        jobs.update(model_jobs(monitor, assets))
    return jobs


def build_drift_job(monitor: Monitor, assets: dict[str, dg.AssetsDefinition]):
    """`<monitor>_drift_job`: one period's batch, drift report, history and predictions (with their checks)."""
    whose = "log its model's predictions" if monitor.external else "predict it with the champion"
    quality = (", append it to the history (its labels land later, with the labels job, and the model's quality "
               "is checked then)." if monitor.late_labels else
               " and check the model's quality on it, append it to the history.")
    return dg.define_asset_job(
        monitor.job_name("drift_job"),
        # Selecting the assets selects their checks too: no_dataset_drift, no_multivariate_drift,
        # no_data_quality_regression and no_prediction_drift run with drift_report, no_model_degradation with
        # predictions (skipped, like predictions, while no model is in service). No training asset is selected:
        # an external model's monitor has none.
        selection=dg.AssetSelection.assets(*(assets[n] for n in ("current_batch", "drift_report",
                                                                  "combined_history", "predictions"))),
        description=f"One {monitor.period_label}: fetch the batch, report its drift against the reference, "
        f"{whose}{quality}",
        tags={TAG_MONITOR: monitor.name},
        op_retry_policy=retry_policy(monitor),
        # One process per run, steps one after another: a period's steps are small and would each pay the
        # code location's and Evidently's import (~10 s) in a process of their own.
        executor_def=dg.in_process_executor,
    )


def build_labels_job(monitor: Monitor, assets: dict[str, dg.AssetsDefinition]) -> dg.JobDefinition:
    """`<monitor>_labels_job`: one period's labels landed, then its `no_model_degradation` check."""
    return dg.define_asset_job(
        monitor.job_name("labels_job"),
        selection=dg.AssetSelection.assets(assets["labels"]),  # and its check, no_model_degradation
        description=f"One {monitor.period_label}'s labels, landed after its features: checked, written by key into "
        "the history and the predictions (every landing kept in the labels ledger), then the model's quality on "
        "the period checked. Config labels_url: a file of the period's labels; revise: record differing labels.",
        tags={TAG_MONITOR: monitor.name},
        op_retry_policy=retry_policy(monitor),
        executor_def=dg.in_process_executor,
    )


def due_periods(partitions: dg.TimeWindowPartitionsDefinition, delay, now, previous) -> list[str]:
    """The periods whose end + `delay` falls in (previous, now] (naive datetimes in the partitions' timezone):
    those whose labels fell due since the previous tick, each once."""
    import pandas as pd

    due = []
    for key in partitions.get_partition_keys(current_time=now):
        end = pd.Timestamp(partitions.time_window_for_partition_key(key).end.replace(tzinfo=None))
        if previous < end + delay <= pd.Timestamp(now.replace(tzinfo=None)):
            due.append(key)
    return due


def build_labels_schedule(monitor: Monitor, labels_job, partitions) -> dg.ScheduleDefinition:
    """`<monitor>_labels_schedule`: at the monitor's hour (weekly: Mondays), a labels_job run for each period
    whose end + label_delay has passed since the previous tick; run_key = the period, so never twice."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    weekly, delay = monitor.cadence == "weekly", monitor.labels.delay
    every = dt.timedelta(days=7 if weekly else 1)
    cron = f"{monitor.schedule.minute} {monitor.schedule.hour} * * {'1' if weekly else '*'}"

    @dg.schedule(name=monitor.job_name("labels_schedule"), cron_schedule=cron, job=labels_job,
                 execution_timezone=monitor.timezone, default_status=schedule_status(monitor),
                 description=f"{schedule_time(monitor)}: land the labels of each {monitor.period_label} whose end + "
                 f"label_delay ({monitor.labels.label_delay}) has passed since the previous tick.")
    def labels_schedule(context: dg.ScheduleEvaluationContext):
        now = (context.scheduled_execution_time or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(monitor.timezone))
        previous = now.replace(tzinfo=None) - every
        periods = due_periods(partitions, delay, now, previous)
        if not periods:
            return dg.SkipReason(f"no {monitor.period_label}'s labels fell due in ({previous:%Y-%m-%d %H:%M}, "
                                 f"{now:%Y-%m-%d %H:%M}] (label_delay {monitor.labels.label_delay})")
        return [dg.RunRequest(run_key=period, partition_key=period, tags={TAG_MONITOR: monitor.name})
                for period in periods]

    return labels_schedule


def build_viewer_sync_job(monitor: Monitor) -> dg.JobDefinition:
    viewer_op = build_viewer_sync(monitor)

    @dg.job(name=monitor.job_name("viewer_sync_job"), tags={TAG_MONITOR: monitor.name},
            description="Push to Evidently's UI the drift reports it missed while it was down (their snapshots wait "
            "in the store), oldest first; each push replaces the period's earlier run.")
    def viewer_sync_job():
        viewer_op()

    return viewer_sync_job


def model_jobs(monitor: Monitor, assets: dict[str, dg.AssetsDefinition]) -> dict[str, dg.JobDefinition]:
    """A platform-served model's jobs: `<monitor>_retrain_job`, `<monitor>_rollback_job`,
    `<monitor>_model_versions_job`, `<monitor>_migrate_models_job`."""
    tags = {TAG_MONITOR: monitor.name}
    # The retrain and the rollback carry the same tag: dagster.yaml runs one of them at a time per monitor, so the
    # gate and a rollback never move the champion pointer at once, and versions are trained one after another.
    serial = {**tags, TAG_RETRAIN: monitor.name}
    rollback_op, versions_op = build_registry_ops(monitor)
    retrain_job = dg.define_asset_job(
        monitor.job_name("retrain_job"),
        selection=dg.AssetSelection.assets(assets["trained_model"], assets["champion_model"]),
        description="Train a new model version on the whole history (the challenger), then let the "
        "champion/challenger gate decide whether it goes into service.",
        tags=serial,
        op_retry_policy=retry_policy(monitor),
        executor_def=dg.in_process_executor,
    )

    @dg.job(name=monitor.job_name("rollback_job"), tags=serial,
            description=f"Put an earlier model version back in service. Config: ops.{rollback_op.name}.config.version "
            "(a version id, or 'previous') and .reason. Verifies the artifact's sha256, moves models/champion.json, "
            "appends to models/audit/ and records a materialization of champion_model.")
    def rollback_job():
        rollback_op()

    @dg.job(name=monitor.job_name("model_versions_job"), tags=tags,
            description="List every model version (window, rows, parameters, holdout score by the monitor's metric, "
            "data hash, code version), the champion, the latest and the audit log, as an observation of champion_model.")
    def model_versions_job():
        versions_op()

    return {"retrain": retrain_job, "rollback": rollback_job, "model_versions": model_versions_job,
            "migrate_models": build_migrate_models_job(monitor, serial)}


def build_migrate_models_job(monitor: Monitor, tags: dict[str, str]) -> dg.JobDefinition:
    """`<monitor>_migrate_models_job`; with the retrain's tag, so it never runs beside a retrain or a rollback."""
    migrate_op = build_migrate_models_op(monitor)

    @dg.job(name=monitor.job_name("migrate_models_job"), tags=tags,
            description="Re-save, once, the model versions earlier releases stored as pickles (model.pkl) in skops' "
            "format (model.skops), so that loading runs no code. Run it only if you trust the store: it unpickles "
            "each pickled version once, after checking its sha256. Reports per version; audited; idempotent.")
    def migrate_models_job():
        migrate_op()

    return migrate_models_job


def build_schedule(monitor: Monitor, drift_job) -> dg.ScheduleDefinition:
    """`<monitor>_drift_schedule`: the period that just ended, at the monitor's hour (weekly: on Mondays)."""
    return dg.build_schedule_from_partitioned_job(
        drift_job,
        name=monitor.job_name("drift_schedule"),
        hour_of_day=monitor.schedule.hour,
        minute_of_hour=monitor.schedule.minute,
        description=f"{schedule_time(monitor)}: "
        + ("the week that ended on Sunday." if monitor.cadence == "weekly" else "the day before."),
        default_status=schedule_status(monitor),
    )


def schedule_time(monitor: Monitor) -> str:
    """When a monitor's schedules tick, as their descriptions say it: "Mondays 07:00 UTC", "Daily 06:30 UTC"."""
    days = "Mondays" if monitor.cadence == "weekly" else "Daily"
    return f"{days} {monitor.schedule.hour:02d}:{monitor.schedule.minute:02d} {monitor.timezone}"


def schedule_status(monitor: Monitor) -> dg.DefaultScheduleStatus:
    """Whether a monitor's schedules start running (`schedule.running`)."""
    return dg.DefaultScheduleStatus.RUNNING if monitor.schedule.running else dg.DefaultScheduleStatus.STOPPED
