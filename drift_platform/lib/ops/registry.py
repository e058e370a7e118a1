"""The model registry by hand: `<monitor>_rollback_job` (config `version`, `reason`) puts an earlier version back in
service, and `<monitor>_model_versions_job` lists every version with its metrics (jobs in `lib/jobs.py`).

Both record what they did on `champion_model` (a materialization for a rollback, an observation for a listing),
so the champion's history is in one place in the UI, and a rollback is also appended to the audit log. The texts
(Slack message, tables) are in `core/ml/gate.py`, the registry itself in `core/ml/model_registry.py`.
"""

from typing import Any

import dagster as dg
from pydantic import Field

from drift_platform.core.names import CHAMPION_MODEL
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import asset_key
from drift_platform.lib.assets.champion_model import optional_float
from drift_platform.resources import Alerter, ObjectStore, ScopedStore


class RollbackConfig(dg.Config):
    """Which version to put back in service, and why."""

    version: str = Field(
        description="Model version id to make the champion (see the model versions job or models/<version>/), or "
        "'previous' for the champion before the current one"
    )
    reason: str = Field(default="manual rollback", description="Why; kept in the audit log and the metadata")


def rollback_target(current: dict[str, Any] | None, requested: str) -> str:
    """The version to roll back to: `requested`, or the champion before the current one for 'previous'."""
    target = requested.strip()
    if target == "previous":
        if not current or not current.get("previous"):
            raise dg.Failure("there is no previous champion to roll back to", allow_retries=False)
        target = current["previous"]
    return target


def rollback_materialization(
    key: dg.AssetKey, entry: dict[str, Any], target: str, reason: str, holdout: float | None, audit_entry,
    metric_name: str = "rmsle",
) -> dg.AssetMaterialization:
    """What a rollback records on `champion_model`: the version now in service (its holdout value of its metric,
    `champion_holdout_<metric>`), the one before, the audit entry."""
    return dg.AssetMaterialization(
        asset_key=key,
        description=f"rolled back from {entry['from']} to {target}: {reason}",
        metadata={
            "decision": dg.MetadataValue.text("rolled back"),
            "promoted": dg.MetadataValue.bool(False),
            "reason": dg.MetadataValue.text(reason),
            "champion_version": dg.MetadataValue.text(target),
            "previous_champion": dg.MetadataValue.text(entry["from"] or "-"),
            "sha256": dg.MetadataValue.text(entry["sha256"]),
            "audit_entry": audit_entry,
            **optional_float(f"champion_holdout_{metric_name}", holdout),
        },
    )


def roll_back(
    context: dg.OpExecutionContext,
    monitor: Monitor,
    config: RollbackConfig,
    models: ScopedStore,
    alerts: Alerter,
) -> None:
    """Make `config.version` the champion (its sha256 verified first), audited, recorded on `champion_model` and
    announced in Slack; nothing when it is the champion already."""
    from drift_platform.core.ml.gate import holdout_of, metric_of, rollback_alert
    from drift_platform.core.ml.model_registry import (
        ModelIntegrityError,
        UnknownModelVersionError,
        champion_version,
        read_manifest,
        set_champion,
    )

    current = champion_version(models)
    target = rollback_target(current, config.version)
    if current and current["version"] == target:
        context.log.info(f"{target} is already the champion: nothing to do")
        return
    try:
        entry = set_champion(
            models, target, action="rollback", reason=config.reason, run_id=context.run.run_id
        )
    except (UnknownModelVersionError, ModelIntegrityError, FileNotFoundError) as exc:
        raise dg.Failure(description=f"cannot roll back to {target!r}: {exc}", allow_retries=False) from exc
    manifest = read_manifest(models, target)
    holdout, metric_name = holdout_of(manifest), metric_of(manifest)
    key = asset_key(monitor, CHAMPION_MODEL)
    audit_entry = models.link(entry["audit_key"])
    context.log_event(rollback_materialization(key, entry, target, config.reason, holdout, audit_entry, metric_name))
    run_url = alerts.run_url(context.run.run_id)
    text = rollback_alert(monitor.name, entry["from"], target, holdout, config.reason, run_url, metric_name)
    alerts.send(text, context.log, channel=monitor.slack_channel)


def report_versions(context: dg.OpExecutionContext, monitor: Monitor, models: ScopedStore) -> None:
    """Log every model version with its metrics, and record them, the champion, the latest and the last 20
    audit entries as an observation of `champion_model`."""
    from drift_platform.core.ml.gate import audit_table, versions_table
    from drift_platform.core.ml.model_registry import (
        audit_log,
        champion_version,
        latest_version,
        list_versions,
    )

    rows = list_versions(models)
    champion, latest = champion_version(models), latest_version(models)
    table = versions_table(rows, champion and champion["version"], latest and latest["version"])
    audit_md = audit_table(audit_log(models)[-20:])
    context.log.info(f"{len(rows)} model version(s); champion {champion and champion['version']}\n{table}")
    context.log_event(
        dg.AssetObservation(
            asset_key=asset_key(monitor, CHAMPION_MODEL),
            metadata={
                "versions": dg.MetadataValue.md(table),
                "version_count": dg.MetadataValue.int(len(rows)),
                "champion_version": dg.MetadataValue.text(champion["version"] if champion else "-"),
                "latest_version": dg.MetadataValue.text(latest["version"] if latest else "-"),
                "audit_log": dg.MetadataValue.md(audit_md),
            },
        )
    )


def build_registry_ops(monitor: Monitor) -> tuple[dg.OpDefinition, dg.OpDefinition]:
    """The rollback op and the listing op of a monitor's model registry."""

    @dg.op(
        name=f"{monitor.name}_rollback_champion",
        tags={"kind": "storage"},
        description="Make an earlier model version the champion (its sha256 is verified first); audited.",
    )
    def rollback_champion(
        context: dg.OpExecutionContext, config: RollbackConfig, store: ObjectStore, alerts: Alerter
    ) -> None:
        roll_back(context, monitor, config, store.scoped(monitor.name), alerts)

    @dg.op(
        name=f"{monitor.name}_list_model_versions",
        description="List every model version with its metrics, the champion and the audit log.",
    )
    def list_model_versions(context: dg.OpExecutionContext, store: ObjectStore) -> None:
        report_versions(context, monitor, store.scoped(monitor.name))

    return rollback_champion, list_model_versions
