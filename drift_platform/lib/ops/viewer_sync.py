"""`<monitor>_viewer_sync_job`'s op: push to Evidently's UI the drift reports it did not take when they were
made (down or slow at the time); the reports wait in the store under the key their materialization names, as
the Evidently snapshot the viewer would have taken (with the period's data-quality figures, when the check
judged it: drift_platform/core/stats/report.py `with_quality_metrics`), so a later push shows the same run."""

from typing import Any

import dagster as dg

from drift_platform.core.names import DRIFT_REPORT
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import asset_key
from drift_platform.lib.assets.drift_report import VIEWER_RUN_ID, VIEWER_SNAPSHOT, recorded_viewer_runs
from drift_platform.resources import ObjectStore, ReportViewer


def unpushed_reports(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, str]:
    """Periods whose latest report the viewer did not take, and no later push did: period -> snapshot key."""
    latest: dict[str, Any] = {}
    for record in instance.fetch_materializations(key, limit=10_000, ascending=True).records:
        latest[record.partition_key] = record
    pushed_later = {
        record.partition_key: record.storage_id
        for record in instance.fetch_observations(key, limit=10_000, ascending=True).records
        if VIEWER_RUN_ID in record.asset_observation.metadata
    }
    waiting = {}
    for period, record in latest.items():
        metadata = record.asset_materialization.metadata
        if VIEWER_SNAPSHOT in metadata and pushed_later.get(period, -1) < record.storage_id:
            waiting[period] = str(metadata[VIEWER_SNAPSHOT].value)
    return dict(sorted(waiting.items()))


def push_later(context, monitor: Monitor, key: dg.AssetKey, folder, viewer: ReportViewer, period: str,
               snapshot_key: str) -> None:
    """Push one period's waiting report (its snapshot in the store) and record the push as an observation of
    drift_report with the run's link."""
    from evidently.core.report import Snapshot

    from drift_platform.core.stats.drift import snapshot_drift_share

    snapshot = Snapshot.loads(folder.read_bytes(snapshot_key).decode())
    published = viewer.publish(monitor.name, monitor.description, snapshot, monitor.spec.monitored_columns,
                               snapshot_drift_share(snapshot.dict()),
                               replaces=recorded_viewer_runs(context.instance, key, period), log=context.log)
    context.log_event(dg.AssetObservation(asset_key=key, partition=period, metadata={
        "report_url": dg.MetadataValue.url(published.url), "viewer_push": dg.MetadataValue.text("ok (later)"),
        VIEWER_RUN_ID: dg.MetadataValue.text(published.run_id)}))


def build_viewer_sync(monitor: Monitor) -> dg.OpDefinition:
    """The op of `<monitor>_viewer_sync_job`: push the reports the viewer missed, oldest period first."""
    key = asset_key(monitor, DRIFT_REPORT)

    @dg.op(name=f"{monitor.name}_push_missing_reports",
           description="Push to Evidently's UI every period's latest drift report it did not take (down or slow at "
           "the time); each push is recorded as an observation of drift_report with the run's link.")
    def push_missing_reports(context: dg.OpExecutionContext, store: ObjectStore, viewer: ReportViewer) -> None:
        folder, pushed = store.scoped(monitor.name), 0
        waiting = unpushed_reports(context.instance, key)
        for period, snapshot_key in waiting.items():
            push_later(context, monitor, key, folder, viewer, period, snapshot_key)
            pushed += 1
        context.log.info(f"pushed {pushed} report(s) the viewer had missed" if pushed else "nothing to push")

    return push_missing_reports
