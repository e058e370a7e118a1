"""`<monitor>_viewer_sync_job`'s op: push to Evidently's UI the reports it did not take when they were made (down
or slow at the time): the drift reports (drift_report's materializations), the quality reports and the estimate
runs (the predictions'). The reports wait in the store under the key their materialization names, as the Evidently
snapshot the viewer would have taken (a drift report with the period's data-quality and output-drift figures:
drift_platform/core/stats/report.py), so a later push shows the same run."""

from dataclasses import dataclass
from typing import Any

import dagster as dg

from drift_platform.core.names import DRIFT_REPORT, PREDICTIONS
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import asset_key
from drift_platform.lib.assets.drift_report import VIEWER_RUN_ID, VIEWER_SNAPSHOT, recorded_viewer_runs
from drift_platform.lib.assets.estimate_report import (
    ESTIMATE_PUSH,
    ESTIMATE_RUN_ID,
    ESTIMATE_SNAPSHOT,
    ESTIMATE_URL,
    estimated_metric,
)
from drift_platform.lib.assets.quality_report import (
    QUALITY_PUSH,
    QUALITY_RUN_ID,
    QUALITY_SNAPSHOT,
    QUALITY_URL,
)
from drift_platform.resources import ObjectStore, ReportViewer


@dataclass(frozen=True)
class ReportKind:
    """Where one kind of report records its snapshot, its viewer run, link and push in its asset's metadata."""

    asset: str
    snapshot: str
    run_id: str
    url: str
    push: str
    with_dashboard: bool  # a drift report's push also updates the project's dashboard


DRIFT = ReportKind(DRIFT_REPORT, VIEWER_SNAPSHOT, VIEWER_RUN_ID, "report_url", "viewer_push", True)
QUALITY = ReportKind(PREDICTIONS, QUALITY_SNAPSHOT, QUALITY_RUN_ID, QUALITY_URL, QUALITY_PUSH, False)
ESTIMATE = ReportKind(PREDICTIONS, ESTIMATE_SNAPSHOT, ESTIMATE_RUN_ID, ESTIMATE_URL, ESTIMATE_PUSH, False)


def unpushed_reports(instance: dg.DagsterInstance, key: dg.AssetKey, kind: ReportKind = DRIFT) -> dict[str, str]:
    """Periods whose latest report of this kind the viewer did not take, and no later push did: period ->
    snapshot key."""
    latest: dict[str, Any] = {}
    for record in instance.fetch_materializations(key, limit=10_000, ascending=True).records:
        latest[record.partition_key] = record
    pushed_later = {
        record.partition_key: record.storage_id
        for record in instance.fetch_observations(key, limit=10_000, ascending=True).records
        if kind.run_id in record.asset_observation.metadata
    }
    waiting = {}
    for period, record in latest.items():
        metadata = record.asset_materialization.metadata
        if kind.snapshot in metadata and pushed_later.get(period, -1) < record.storage_id:
            waiting[period] = str(metadata[kind.snapshot].value)
    return dict(sorted(waiting.items()))


def push_later(context, monitor: Monitor, key: dg.AssetKey, folder, viewer: ReportViewer, period: str,
               snapshot_key: str, kind: ReportKind = DRIFT) -> None:
    """Push one period's waiting report (its snapshot in the store) and record the push as an observation of its
    asset with the run's link."""
    from evidently.core.report import Snapshot

    from drift_platform.core.stats.drift import snapshot_drift_share

    snapshot = Snapshot.loads(folder.read_bytes(snapshot_key).decode())
    dashboard = ((monitor.spec.monitored_columns, snapshot_drift_share(snapshot.dict())) if kind.with_dashboard
                 else (None, None))
    published = viewer.publish(monitor.name, monitor.description, snapshot, *dashboard,
                               replaces=recorded_viewer_runs(context.instance, key, period, kind.run_id),
                               log=context.log, estimated=estimated_metric(monitor))
    context.log_event(dg.AssetObservation(asset_key=key, partition=period, metadata={
        kind.url: dg.MetadataValue.url(published.url), kind.push: dg.MetadataValue.text("ok (later)"),
        kind.run_id: dg.MetadataValue.text(published.run_id)}))


def build_viewer_sync(monitor: Monitor) -> dg.OpDefinition:
    """The op of `<monitor>_viewer_sync_job`: push the drift and quality reports and the estimate runs the viewer
    missed, oldest period first."""

    @dg.op(name=f"{monitor.name}_push_missing_reports",
           description="Push to Evidently's UI every period's latest drift report, quality report and estimate "
           "run it did not take (down or slow at the time); each push is recorded as an observation of its asset (drift_report, "
           "predictions) with the run's link.")
    def push_missing_reports(context: dg.OpExecutionContext, store: ObjectStore, viewer: ReportViewer) -> None:
        folder, pushed = store.scoped(monitor.name), 0
        for kind in (DRIFT, QUALITY, ESTIMATE):
            key = asset_key(monitor, kind.asset)
            for period, snapshot_key in unpushed_reports(context.instance, key, kind).items():
                push_later(context, monitor, key, folder, viewer, period, snapshot_key, kind)
                pushed += 1
        context.log.info(f"pushed {pushed} report(s) the viewer had missed" if pushed else "nothing to push")

    return push_missing_reports
