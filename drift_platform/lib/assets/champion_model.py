"""Model lifecycle: the champion/challenger gate, rolling the champion back, and listing the versions.

`champion_model` runs after `trained_model` (both are in `<monitor>_retrain_job`): it scores the new version
(the challenger) and the model in service (the champion) on the same recent labelled rows, which neither has
been fitted on, and moves `models/champion.json` only when the challenger is better by the configured margin or
there is no champion yet. The comparison is plain logic in `drift_platform/training.py` (`compare_models`,
`decide`); the pointer, where a gate starts from and the audit log are in `drift_platform/model_registry.py`.

Two ops work on the registry by hand (jobs.py): `<monitor>_rollback_job` (config `version`, `reason`) puts an
earlier version back in service, and `<monitor>_model_versions_job` lists every version with its metrics. Both
record what they did on `champion_model` (a materialization for a rollback, an observation for a listing), so
the champion's history is in one place in the UI, and a rollback is also appended to the audit log.
"""

import dataclasses
from typing import Any

import dagster as dg
from pydantic import Field

from drift_platform.core.names import (
    CHAMPION_MODEL,
    TAG_EVALUATION_ID,
    TAG_PERIOD,
    TAG_QUALITY_EVALUATION_ID,
    TAG_TRIGGER,
    TRAINED_MODEL,
    TRAINING,
)
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import asset_args, asset_key
from drift_platform.lib.run_config import run_config_class, settings_from
from drift_platform.resources import Alerter, ObjectStore, WarehouseResource


def _seen_until(manifest: dict[str, Any]):
    """The last datetime the model's fit saw (its training part); older manifests only have the window's end."""
    import pandas as pd

    value = manifest.get("train_end") or manifest.get("window_end")
    return pd.Timestamp(value) if value else None


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _optional_float(name: str, value: float | None) -> dict[str, dg.MetadataValue]:
    """A float metadata entry, left out when there is no value (no champion, no fair comparison): the UI plots
    the floats across materializations, e.g. the champion's holdout RMSLE version after version."""
    return {} if value is None else {name: dg.MetadataValue.float(float(value))}


def gate_alert(monitor: str, facts: dict[str, Any], run_url: str) -> str:
    """The Slack message of a retrain's outcome."""
    head = (f"*[{monitor}] Retrain for period {facts['period']}* (trigger: {facts['trigger']}, "
            f"evaluation {facts['evaluation_id']})")
    if facts["promoted"]:
        first = f":white_check_mark: {head}: challenger `{facts['challenger']}` *promoted* to champion"
        if facts["champion_before"]:
            first += f" (replaces `{facts['champion_before']}`)"
    else:
        first = (f":information_source: {head}: champion `{facts['champion_before']}` *kept*; "
                 f"challenger `{facts['challenger']}` not promoted")
    periods = ", ".join(facts["periods"])
    if facts["champion_rmsle"] is not None:
        scores = (
            f"RMSLE challenger {_fmt(facts['challenger_rmsle'])} vs champion {_fmt(facts['champion_rmsle'])} "
            f"on period(s) {periods} ({facts['eval_rows']} labelled rows neither was fitted on; "
            f"margin {facts['min_improvement']:.1%})"
        )
    elif facts["challenger_rmsle"] is not None:
        scores = f"RMSLE challenger {_fmt(facts['challenger_rmsle'])} on period(s) {periods}; no champion to compare with"
    else:
        scores = "no scores"
    return (
        f"{first}\n{scores}\nReason: {facts['reason']}\n"
        f"Holdout RMSLE of the champion now in service: {_fmt(facts['champion_holdout_rmsle'])}\n"
        f"Retrain run: {run_url}"
    )


def gate_metadata(facts: dict[str, Any], comparison, decision, challenger_holdout) -> dict[str, dg.MetadataValue]:
    return {
        "decision": dg.MetadataValue.text(decision.outcome),
        "promoted": dg.MetadataValue.bool(decision.promote),
        "reason": dg.MetadataValue.text(decision.reason),
        "champion_version": dg.MetadataValue.text(facts["in_service"] or "-"),
        "previous_champion": dg.MetadataValue.text(facts["champion_before"] or "-"),
        "challenger_version": dg.MetadataValue.text(facts["challenger"]),
        "eval_periods": dg.MetadataValue.text(", ".join(comparison.periods) or "-"),
        "eval_period_count": dg.MetadataValue.int(len(comparison.periods)),
        "eval_rows": dg.MetadataValue.int(comparison.eval_rows),
        "fit_rows": dg.MetadataValue.int(comparison.fit_rows),
        "excluded_seen_rows": dg.MetadataValue.int(comparison.excluded_seen_rows),
        "min_improvement": dg.MetadataValue.float(facts["min_improvement"]),
        "trigger": dg.MetadataValue.text(facts["trigger"]),
        **_optional_float("challenger_rmsle", comparison.challenger_rmsle),
        **_optional_float("champion_rmsle", comparison.champion_rmsle),
        **_optional_float("relative_improvement", decision.improvement),
        **_optional_float("champion_holdout_rmsle", facts["champion_holdout_rmsle"]),
        **_optional_float("challenger_holdout_rmsle", challenger_holdout),
    }


def _load_champion(models, version: str | None):
    from drift_platform.core.ml.model_registry import ModelIntegrityError, load_model

    if version is None:
        return None, None
    try:
        return load_model(models, version)
    except ModelIntegrityError as exc:
        raise dg.Failure(
            description=f"the champion in service is not intact: {exc}. Put an intact version back in service "
            "with the rollback job, then retrain.",
            allow_retries=False,
        ) from exc


def build_champion_model(monitor: Monitor) -> dg.AssetsDefinition:
    GateConfig = run_config_class(monitor.gate, f"GateConfig_{monitor.name}")  # noqa: N806

    @dg.asset(**asset_args(monitor, CHAMPION_MODEL, TRAINING, kinds={"scikitlearn", "storage"},
                           ins={"trained_model": dg.AssetIn(asset_key(monitor, TRAINED_MODEL))}))
    def champion_model(
        context: dg.AssetExecutionContext,
        config: GateConfig,
        trained_model: dict,
        warehouse: WarehouseResource,
        store: ObjectStore,
        alerts: Alerter,
    ) -> dg.MaterializeResult:
        """The model in service (`models/champion.json`), chosen by a champion/challenger gate after each training.

        The challenger (the version `trained_model` just wrote) and the champion are scored by RMSLE on the same
        recent labelled rows: those of the last `eval_periods` periods of the history that the champion's fit has
        not seen. The challenger in the store was fitted on almost all of the history, these rows included, so
        for the comparison its pipeline, with the hyperparameters it chose, is refitted walk-forward: before each
        evaluated period, on every earlier row. The challenger is promoted only when its RMSLE is lower by at
        least `min_improvement`, or when there is no champion yet. Decision, both scores, the periods and the row
        counts are metadata; a retrain requested by the retrain sensor also reports the outcome in Slack."""
        from drift_platform.core.ml.model_registry import (
            champion_version,
            gate_start,
            load_model,
            metric,
            set_champion,
        )
        from drift_platform.core.ml.training import compare_models, decide

        settings = settings_from(config, monitor.gate)
        models, run_id = store.scoped(monitor.name), context.run.run_id
        challenger_version = trained_model["version"]
        challenger, challenger_manifest = load_model(models, challenger_version)
        start = gate_start(champion_version(models), challenger_version, run_id)
        challenger_holdout = metric(challenger_manifest, "holdout_rmsle")
        if start.already_champion:
            context.log.info(f"{challenger_version} is already the champion: nothing to decide")
            return dg.MaterializeResult(
                data_version=dg.DataVersion(challenger_version),
                metadata={"decision": dg.MetadataValue.text("unchanged"), "promoted": dg.MetadataValue.bool(False),
                          "champion_version": dg.MetadataValue.text(challenger_version),
                          "challenger_version": dg.MetadataValue.text(challenger_version),
                          **_optional_float("champion_holdout_rmsle", challenger_holdout)},
            )

        champion, champion_manifest = _load_champion(models, start.compare_with)
        history = warehouse.read(monitor.table("history"), monitor.spec.layout)
        comparison = compare_models(challenger, history, monitor.spec, settings, champion,
                                    _seen_until(champion_manifest) if champion_manifest else None, monitor.cadence)
        decision = decide(comparison, champion is not None, settings.min_improvement)
        if start.resumed and not decision.promote:  # cannot happen with the same data; the pointer is what serves
            context.log.warning(f"re-deciding a retried promotion gave {decision.outcome}; {challenger_version} stays")
            decision = dataclasses.replace(decision, promote=True, outcome="promoted")
        audit_key = None
        if decision.promote and not start.resumed:
            details = {"challenger_rmsle": comparison.challenger_rmsle, "champion_rmsle": comparison.champion_rmsle,
                       "eval_periods": comparison.periods, "eval_rows": comparison.eval_rows}
            audit_key = set_champion(models, challenger_version, action="promote", reason=decision.reason,
                                     run_id=run_id, details=details)["audit_key"]
        in_service_manifest = challenger_manifest if decision.promote else champion_manifest
        tags = context.run.tags
        facts = {
            "period": tags.get(TAG_PERIOD, "-"), "trigger": tags.get(TAG_TRIGGER, "manual"),
            "evaluation_id": tags.get(TAG_EVALUATION_ID, "-"), "promoted": decision.promote,
            "challenger": challenger_version, "champion_before": start.compare_with,
            "in_service": challenger_version if decision.promote else start.compare_with,
            "challenger_rmsle": comparison.challenger_rmsle, "champion_rmsle": comparison.champion_rmsle,
            "periods": comparison.periods, "eval_rows": comparison.eval_rows,
            "min_improvement": settings.min_improvement, "reason": decision.reason,
            "champion_holdout_rmsle": metric(in_service_manifest, "holdout_rmsle") if in_service_manifest else None,
        }  # fmt: skip
        context.log.info(f"gate: {decision.outcome} ({decision.reason}); champion now {facts['in_service']}")
        metadata = gate_metadata(facts, comparison, decision, challenger_holdout)
        if audit_key:
            metadata["audit_entry"] = models.link(audit_key)
        if tags.get(TAG_QUALITY_EVALUATION_ID):
            metadata["quality_evaluation_id"] = dg.MetadataValue.text(tags[TAG_QUALITY_EVALUATION_ID])
        if TAG_TRIGGER in tags:  # requested by the retrain sensor: the team hears the outcome, once per run
            text = gate_alert(monitor.name, facts, alerts.run_url(run_id))
            delivered = alerts.send(text, context.log, channel=monitor.slack_channel)
            metadata["alert_delivered"] = dg.MetadataValue.bool(delivered)
            if not delivered:
                context.log.error("the retrain's outcome could not be sent to Slack; it is in this materialization")
        return dg.MaterializeResult(data_version=dg.DataVersion(facts["in_service"] or "none"), metadata=metadata)

    return champion_model


# --- operating the registry by hand ----------------------------------------------------------------------------
class RollbackConfig(dg.Config):
    """Which version to put back in service, and why."""

    version: str = Field(
        description="Model version id to make the champion (see the model versions job or models/<version>/), or "
        "'previous' for the champion before the current one"
    )
    reason: str = Field(default="manual rollback", description="Why; kept in the audit log and the metadata")


def versions_table(rows: list[dict[str, Any]], champion: str | None, latest: str | None) -> str:
    from drift_platform.core.ml.model_registry import metric

    lines = ["| version | status | created | window | history rows | alpha | holdout RMSLE | data sha256 | code |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        status = ", ".join(s for s, v in (("champion", champion), ("latest", latest)) if v == row["version"])
        complete = row.get("complete", True)
        if not complete:
            status = "incomplete (no manifest or artifact)"
        window = (f"{str(row.get('window_start', ''))[:10]} .. {str(row.get('window_end', ''))[:10]}"
                  if row.get("window_start") else "-")
        alpha = (row.get("hyperparameters") or {}).get("alpha", row.get("best_alpha", "-"))
        lines.append(
            f"| {row['version']} | {status or '-'} | {str(row.get('created_at', '-'))[:19]} | {window} | "
            f"{row.get('history_rows', '-')} | {alpha} | {_fmt(metric(row, 'holdout_rmsle') if complete else None)} | "
            f"{str(row.get('data_sha256', '-'))[:12]} | {row.get('code_version', '-')} |"
        )
    return "\n".join(lines)


def build_registry_ops(monitor: Monitor) -> tuple[dg.OpDefinition, dg.OpDefinition]:
    """The rollback op and the listing op of a monitor's model registry."""
    champion_key = asset_key(monitor, CHAMPION_MODEL)

    @dg.op(name=f"{monitor.name}_rollback_champion", tags={"kind": "storage"},
           description="Make an earlier model version the champion (its sha256 is verified first); audited.")
    def rollback_champion(
        context: dg.OpExecutionContext, config: RollbackConfig, store: ObjectStore, alerts: Alerter
    ) -> None:
        from drift_platform.core.ml.model_registry import (
            ModelIntegrityError,
            UnknownModelVersionError,
            champion_version,
            metric,
            read_manifest,
            set_champion,
        )

        models = store.scoped(monitor.name)
        current = champion_version(models)
        target = config.version.strip()
        if target == "previous":
            if not current or not current.get("previous"):
                raise dg.Failure("there is no previous champion to roll back to", allow_retries=False)
            target = current["previous"]
        if current and current["version"] == target:
            context.log.info(f"{target} is already the champion: nothing to do")
            return
        try:
            entry = set_champion(models, target, action="rollback", reason=config.reason, run_id=context.run.run_id)
        except (UnknownModelVersionError, ModelIntegrityError, FileNotFoundError) as exc:
            raise dg.Failure(description=f"cannot roll back to {target!r}: {exc}", allow_retries=False) from exc
        holdout = metric(read_manifest(models, target), "holdout_rmsle")
        context.log_event(
            dg.AssetMaterialization(
                asset_key=champion_key,
                description=f"rolled back from {entry['from']} to {target}: {config.reason}",
                metadata={
                    "decision": dg.MetadataValue.text("rolled back"),
                    "promoted": dg.MetadataValue.bool(False),
                    "reason": dg.MetadataValue.text(config.reason),
                    "champion_version": dg.MetadataValue.text(target),
                    "previous_champion": dg.MetadataValue.text(entry["from"] or "-"),
                    "sha256": dg.MetadataValue.text(entry["sha256"]),
                    "audit_entry": models.link(entry["audit_key"]),
                    **_optional_float("champion_holdout_rmsle", holdout),
                },
            )
        )
        alerts.send(
            f":rewind: *[{monitor.name}] Champion rolled back* from `{entry['from']}` to `{target}` (holdout RMSLE "
            f"{_fmt(holdout)}): {config.reason}\nRun: {alerts.run_url(context.run.run_id)}",
            context.log, channel=monitor.slack_channel,
        )

    @dg.op(name=f"{monitor.name}_list_model_versions",
           description="List every model version with its metrics, the champion and the audit log.")
    def list_model_versions(context: dg.OpExecutionContext, store: ObjectStore) -> None:
        from drift_platform.core.ml.model_registry import (
            audit_log,
            champion_version,
            latest_version,
            list_versions,
        )

        models = store.scoped(monitor.name)
        rows = list_versions(models)
        champion, latest = champion_version(models), latest_version(models)
        table = versions_table(rows, champion and champion["version"], latest and latest["version"])
        audit_md = "\n".join(
            ["| at | action | from | to | reason | run |", "|---|---|---|---|---|---|"]
            + [f"| {e.get('at', '-')[:19]} | {e.get('action')} | {e.get('from') or '-'} | {e.get('to')} | "
               f"{e.get('reason', '-')} | {e.get('run_id') or '-'} |" for e in audit_log(models)[-20:]]
        )
        context.log.info(f"{len(rows)} model version(s); champion {champion and champion['version']}\n{table}")
        context.log_event(
            dg.AssetObservation(
                asset_key=champion_key,
                metadata={
                    "versions": dg.MetadataValue.md(table),
                    "version_count": dg.MetadataValue.int(len(rows)),
                    "champion_version": dg.MetadataValue.text(champion["version"] if champion else "-"),
                    "latest_version": dg.MetadataValue.text(latest["version"] if latest else "-"),
                    "audit_log": dg.MetadataValue.md(audit_md),
                },
            )
        )

    return rollback_champion, list_model_versions
