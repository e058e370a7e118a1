"""Model lifecycle: the champion/challenger gate, rolling the champion back, and listing the versions.

`champion_model` runs after `trained_model` (both are in `retrain_job`): it scores the new version (the
challenger) and the model in service (the champion) on the same recent labelled rows, which neither has been
fitted on, and moves `models/champion.json` only when the challenger is better by the configured margin or
there is no champion yet. The comparison itself is plain logic in `drift_platform/training.py`
(`compare_models`, `decide`); the pointer and the audit log are in `drift_platform/model_registry.py`.

Two op jobs (jobs.py) work on the registry by hand: `champion_rollback_job` (config `version`, `reason`) puts an
earlier version back in service, and `model_versions_job` lists every version with its metrics. Both record
what they did on `champion_model` (a materialization for a rollback, an observation for a listing), so the
champion's history is in one place in the UI, and a rollback is also appended to the audit log in the store.
"""


import dataclasses
from typing import Any

import dagster as dg
from pydantic import Field

from drift_platform.constants import (
    OWNERS,
    TAG_DRIFTED_WEEK,
    TAG_EVALUATION_ID,
    TAG_QUALITY_EVALUATION_ID,
    TAG_TRIGGER,
    TRAINING_GROUP,
)
from drift_platform.resources import Alerter, ArtifactStore, DatasetResource, WarehouseResource

CHAMPION_MODEL = dg.AssetKey("champion_model")


class GateConfig(dg.Config):
    """How the challenger is compared with the champion."""

    eval_weeks: int = Field(
        default=4, description="Compare on the labelled rows of the last N weeks of the history (those the "
        "champion's fit has not seen); the challenger is refitted on the rows before them for the comparison",
    )
    min_improvement: float = Field(
        default=0.01, description="Promote only if the challenger's RMSLE is lower than the champion's by at least "
        "this share (0.01 = 1 %); 0 = any improvement",
    )
    min_eval_rows: int = Field(default=7, description="Fewer rows to compare on than this: keep the champion")
    min_fit_rows: int = Field(default=20, description="Fewer rows to refit the challenger on than this: keep the champion")


def _seen_until(manifest: dict[str, Any]):
    """The last datetime the model's fit saw (its training part); older manifests only have the window's end."""
    import pandas as pd

    value = manifest.get("train_end") or manifest.get("window_end")
    return pd.Timestamp(value) if value else None


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def gate_alert(facts: dict[str, Any], alerts: Alerter, run_id: str) -> str:
    """The Slack message of a retrain's outcome."""
    week, trigger = facts["week"], facts["trigger"]
    head = f"*Retrain for week {week}* (trigger: {trigger}, evaluation {facts['evaluation_id']})"
    if facts["promoted"]:
        first = f":white_check_mark: {head}: challenger `{facts['challenger']}` *promoted* to champion"
        if facts["champion_before"]:
            first += f" (replaces `{facts['champion_before']}`)"
    else:
        first = f":information_source: {head}: champion `{facts['champion_before']}` *kept*; challenger `{facts['challenger']}` not promoted"
    if facts["champion_rmsle"] is not None:
        scores = (
            f"RMSLE challenger {_fmt(facts['challenger_rmsle'])} vs champion {_fmt(facts['champion_rmsle'])} "
            f"on week(s) {', '.join(facts['weeks'])} ({facts['eval_rows']} labelled rows neither was fitted on; "
            f"margin {facts['min_improvement']:.1%})"
        )
    elif facts["challenger_rmsle"] is not None:
        scores = (f"RMSLE challenger {_fmt(facts['challenger_rmsle'])} on week(s) {', '.join(facts['weeks'])}; "
                  "no champion to compare with")
    else:
        scores = "no scores"
    return (
        f"{first}\n{scores}\nReason: {facts['reason']}\n"
        f"Holdout RMSLE of the champion now in service: {_fmt(facts['champion_holdout_rmsle'])}\n"
        f"Retrain run: {alerts.run_url(run_id)}"
    )


@dg.asset(
    group_name=TRAINING_GROUP,
    kinds={"scikitlearn", "storage"},
    owners=OWNERS,
)
def champion_model(
    context: dg.AssetExecutionContext,
    config: GateConfig,
    trained_model: dict,
    dataset: DatasetResource,
    warehouse: WarehouseResource,
    model_store: ArtifactStore,
    alerts: Alerter,
) -> dg.MaterializeResult:
    """The model in service (`models/champion.json`), chosen by a champion/challenger gate after each training.

    The challenger (the version `trained_model` just wrote) and the champion are scored by RMSLE on the same
    recent labelled rows: those of the last `eval_weeks` weeks of the history that the champion's fit has not
    seen. The challenger in the store was fitted on almost all of the history, these rows included, so for the
    comparison its pipeline, with the hyperparameters it chose, is refitted walk-forward: before each evaluated
    week, on every earlier row. The challenger is promoted only when its RMSLE is lower by at least
    `min_improvement`, or when there is no champion yet. Decision, both scores, the weeks and the row counts are metadata; a retrain requested by
    `retrain_on_drift_sensor` also reports the outcome in Slack."""
    from drift_platform.model_registry import (
        ModelIntegrityError,
        champion_version,
        load_model,
        metric,
        set_champion,
    )
    from drift_platform.training import GateComparison, GateSettings, compare_models, decide

    spec = dataset.spec()
    run_id = context.run.run_id
    challenger_version = trained_model["version"]
    challenger, challenger_manifest = load_model(model_store, challenger_version)
    pointer = champion_version(model_store)
    resumed = False
    if pointer and pointer["version"] == challenger_version:
        if pointer.get("run_id") != run_id:
            context.log.info(f"{challenger_version} is already the champion: nothing to decide")
            return dg.MaterializeResult(
                data_version=dg.DataVersion(challenger_version),
                metadata={
                    "decision": dg.MetadataValue.text("unchanged"),
                    "promoted": dg.MetadataValue.bool(False),
                    "champion_version": dg.MetadataValue.text(challenger_version),
                    "challenger_version": dg.MetadataValue.text(challenger_version),
                    **_optional_float("champion_holdout_rmsle", metric(challenger_manifest, "holdout_rmsle")),
                },
            )
        # This run promoted it and the step is being retried: decide again against the champion it replaced
        # (same data, same result) to report the decision and send the alert the first attempt did not send.
        resumed = True
        before = pointer.get("previous")
    else:
        before = pointer["version"] if pointer else None

    champion = champion_manifest = None
    if before is not None:
        try:
            champion, champion_manifest = load_model(model_store, before)
        except ModelIntegrityError as exc:
            raise dg.Failure(
                description=f"the champion in service is not intact: {exc}. Put an intact version back in service "
                "with champion_rollback_job, then retrain.",
                allow_retries=False,
            ) from exc

    settings = GateSettings(eval_weeks=config.eval_weeks, min_eval_rows=config.min_eval_rows,
                            min_fit_rows=config.min_fit_rows)
    history = warehouse.read(warehouse.history_table, spec)
    comparison: GateComparison = compare_models(
        challenger, history, spec, settings, champion, _seen_until(champion_manifest) if champion_manifest else None
    )
    decision = decide(comparison, champion is not None, config.min_improvement)
    if resumed and not decision.promote:  # cannot happen with the same data; the pointer is what serves
        context.log.warning(f"re-deciding a retried promotion gave {decision.outcome}; {challenger_version} stays")
        decision = dataclasses.replace(decision, promote=True, outcome="promoted")
    audit_key = None
    if decision.promote and not resumed:
        entry = set_champion(
            model_store, challenger_version, action="promote", reason=decision.reason, run_id=run_id,
            details={
                "challenger_rmsle": comparison.challenger_rmsle, "champion_rmsle": comparison.champion_rmsle,
                "eval_weeks": comparison.weeks, "eval_rows": comparison.eval_rows,
            },
        )
        audit_key = entry["audit_key"]
    in_service = challenger_version if decision.promote else before
    in_service_manifest = challenger_manifest if decision.promote else champion_manifest
    champion_holdout = metric(in_service_manifest, "holdout_rmsle") if in_service_manifest else None
    context.log.info(f"gate: {decision.outcome} ({decision.reason}); champion now {in_service}")

    tags = context.run.tags
    facts = {
        "week": tags.get(TAG_DRIFTED_WEEK, "-"),
        "trigger": tags.get(TAG_TRIGGER, "manual"),
        "evaluation_id": tags.get(TAG_EVALUATION_ID, "-"),
        "promoted": decision.promote,
        "challenger": challenger_version,
        "champion_before": before,
        "challenger_rmsle": comparison.challenger_rmsle,
        "champion_rmsle": comparison.champion_rmsle,
        "weeks": comparison.weeks,
        "eval_rows": comparison.eval_rows,
        "min_improvement": config.min_improvement,
        "reason": decision.reason,
        "champion_holdout_rmsle": champion_holdout,
    }
    metadata: dict[str, dg.MetadataValue] = {
        "decision": dg.MetadataValue.text(decision.outcome),
        "promoted": dg.MetadataValue.bool(decision.promote),
        "reason": dg.MetadataValue.text(decision.reason),
        "champion_version": dg.MetadataValue.text(in_service or "-"),
        "previous_champion": dg.MetadataValue.text(before or "-"),
        "challenger_version": dg.MetadataValue.text(challenger_version),
        "eval_weeks": dg.MetadataValue.text(", ".join(comparison.weeks) or "-"),
        "eval_week_count": dg.MetadataValue.int(len(comparison.weeks)),
        "eval_rows": dg.MetadataValue.int(comparison.eval_rows),
        "fit_rows": dg.MetadataValue.int(comparison.fit_rows),
        "excluded_seen_rows": dg.MetadataValue.int(comparison.excluded_seen_rows),
        "min_improvement": dg.MetadataValue.float(config.min_improvement),
        "trigger": dg.MetadataValue.text(facts["trigger"]),
        **_optional_float("challenger_rmsle", comparison.challenger_rmsle),
        **_optional_float("champion_rmsle", comparison.champion_rmsle),
        **_optional_float("relative_improvement", decision.improvement),
        **_optional_float("champion_holdout_rmsle", champion_holdout),
        **_optional_float("challenger_holdout_rmsle", metric(challenger_manifest, "holdout_rmsle")),
    }
    if audit_key:
        metadata["audit_entry"] = model_store.metadata_value(audit_key)
    if tags.get(TAG_QUALITY_EVALUATION_ID):
        metadata["quality_evaluation_id"] = dg.MetadataValue.text(tags[TAG_QUALITY_EVALUATION_ID])
    if TAG_TRIGGER in tags:  # requested by retrain_on_drift_sensor: the team hears the outcome, once per run
        delivered = alerts.send(gate_alert(facts, alerts, run_id), context.log)
        metadata["alert_delivered"] = dg.MetadataValue.bool(delivered)
        if not delivered:
            context.log.error("the retrain's outcome could not be sent to Slack; it is in this materialization")
    return dg.MaterializeResult(data_version=dg.DataVersion(in_service or "none"), metadata=metadata)


def _optional_float(name: str, value: float | None) -> dict[str, dg.MetadataValue]:
    """A float metadata entry, left out when there is no value (no champion, no fair comparison): the UI plots
    the floats across materializations, e.g. the champion's holdout RMSLE version after version."""
    return {} if value is None else {name: dg.MetadataValue.float(float(value))}


# --- operating the registry by hand ----------------------------------------------------------------------------
class RollbackConfig(dg.Config):
    """Which version to put back in service, and why."""

    version: str = Field(
        description="Model version id to make the champion (see model_versions_job or models/<version>/), or "
        "'previous' for the champion before the current one"
    )
    reason: str = Field(default="manual rollback", description="Why; kept in the audit log and the metadata")


@dg.op(
    description="Make an earlier model version the champion (its sha256 is verified first); audited.",
    tags={"kind": "storage"},
)
def rollback_champion(
    context: dg.OpExecutionContext, config: RollbackConfig, model_store: ArtifactStore, alerts: Alerter
) -> None:
    from drift_platform.model_registry import (
        ModelIntegrityError,
        UnknownModelVersionError,
        champion_version,
        metric,
        read_manifest,
        set_champion,
    )

    current = champion_version(model_store)
    target = config.version.strip()
    if target == "previous":
        if not current or not current.get("previous"):
            raise dg.Failure("there is no previous champion to roll back to", allow_retries=False)
        target = current["previous"]
    if current and current["version"] == target:
        context.log.info(f"{target} is already the champion: nothing to do")
        return
    try:
        entry = set_champion(model_store, target, action="rollback", reason=config.reason, run_id=context.run.run_id)
    except (UnknownModelVersionError, ModelIntegrityError, FileNotFoundError) as exc:
        raise dg.Failure(description=f"cannot roll back to {target!r}: {exc}", allow_retries=False) from exc
    manifest = read_manifest(model_store, target)
    holdout = metric(manifest, "holdout_rmsle")
    context.log_event(
        dg.AssetMaterialization(
            asset_key=CHAMPION_MODEL,
            description=f"rolled back from {entry['from']} to {target}: {config.reason}",
            metadata={
                "decision": dg.MetadataValue.text("rolled back"),
                "promoted": dg.MetadataValue.bool(False),
                "reason": dg.MetadataValue.text(config.reason),
                "champion_version": dg.MetadataValue.text(target),
                "previous_champion": dg.MetadataValue.text(entry["from"] or "-"),
                "sha256": dg.MetadataValue.text(entry["sha256"]),
                "audit_entry": model_store.metadata_value(entry["audit_key"]),
                **_optional_float("champion_holdout_rmsle", holdout),
            },
        )
    )
    alerts.send(
        f":rewind: *Champion rolled back* from `{entry['from']}` to `{target}` (holdout RMSLE {_fmt(holdout)}): "
        f"{config.reason}\nRun: {alerts.run_url(context.run.run_id)}",
        context.log,
    )


def versions_table(rows: list[dict[str, Any]], champion: str | None, latest: str | None) -> str:
    from drift_platform.model_registry import metric

    lines = ["| version | status | created | window | history rows | alpha | holdout RMSLE | data sha256 | code |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        status = ", ".join(s for s, v in (("champion", champion), ("latest", latest)) if v == row["version"])
        if not row.get("complete", True):
            status = "incomplete (no manifest or artifact)"
        window = f"{str(row.get('window_start', ''))[:10]} .. {str(row.get('window_end', ''))[:10]}" if row.get(
            "window_start") else "-"
        alpha = (row.get("hyperparameters") or {}).get("alpha", row.get("best_alpha", "-"))
        lines.append(
            f"| {row['version']} | {status or '-'} | {str(row.get('created_at', '-'))[:19]} | {window} | "
            f"{row.get('history_rows', '-')} | {alpha} | {_fmt(metric(row, 'holdout_rmsle') if row.get('complete', True) else None)} | "
            f"{str(row.get('data_sha256', '-'))[:12]} | {row.get('code_version', '-')} |"
        )
    return "\n".join(lines)


@dg.op(description="List every model version with its metrics, the champion and the audit log.")
def list_model_versions(context: dg.OpExecutionContext, model_store: ArtifactStore) -> None:
    from drift_platform.model_registry import audit_log, champion_version, latest_version, list_versions

    rows = list_versions(model_store)
    champion, latest = champion_version(model_store), latest_version(model_store)
    table = versions_table(rows, champion and champion["version"], latest and latest["version"])
    audit = audit_log(model_store)[-20:]
    audit_md = "\n".join(
        ["| at | action | from | to | reason | run |", "|---|---|---|---|---|---|"]
        + [f"| {e.get('at', '-')[:19]} | {e.get('action')} | {e.get('from') or '-'} | {e.get('to')} | "
           f"{e.get('reason', '-')} | {e.get('run_id') or '-'} |" for e in audit]
    )
    context.log.info(f"{len(rows)} model version(s); champion {champion and champion['version']}\n{table}")
    context.log_event(
        dg.AssetObservation(
            asset_key=CHAMPION_MODEL,
            metadata={
                "versions": dg.MetadataValue.md(table),
                "version_count": dg.MetadataValue.int(len(rows)),
                "champion_version": dg.MetadataValue.text(champion["version"] if champion else "-"),
                "latest_version": dg.MetadataValue.text(latest["version"] if latest else "-"),
                "audit_log": dg.MetadataValue.md(audit_md),
            },
        )
    )

