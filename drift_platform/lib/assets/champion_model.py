"""Model lifecycle: the champion/challenger gate, `champion_model`.

`champion_model` runs after `trained_model` (both are in `<monitor>_retrain_job`): it scores the new version
(the challenger) and the model in service (the champion) on the same recent labelled rows, which neither has
been fitted on, and moves `models/champion.json` only when the challenger is better by the configured margin
or there is no champion yet. The comparison is plain logic in `drift_platform/core/ml/training.py`
(`compare_models`, `decide`), the gate's facts and its Slack text in `drift_platform/core/ml/gate.py`; the
pointer, where a gate starts from and the audit log are in `drift_platform/core/ml/model_registry.py`.

Two ops work on the registry by hand (`lib/ops/registry.py`, run by jobs of `lib/jobs.py`): a rollback and a
listing of the versions. Both record what they did on `champion_model`, so the champion's history is in one
place in the UI.
"""

import dataclasses
from typing import Any

import dagster as dg

from drift_platform.core.names import (
    CHAMPION_MODEL,
    TAG_QUALITY_EVALUATION_ID,
    TAG_TRIGGER,
    TRAINED_MODEL,
    TRAINING,
)
from drift_platform.core.settings import GateSettings, Monitor
from drift_platform.lib.assets import asset_args, asset_key
from drift_platform.lib.run_config import run_config_class, settings_from
from drift_platform.resources import Alerter, ObjectStore, ScopedStore, WarehouseResource


def optional_float(name: str, value: float | None) -> dict[str, dg.MetadataValue]:
    """A float metadata entry, left out when there is no value (no champion, no fair comparison): the UI plots
    the floats across materializations, e.g. the champion's holdout RMSLE version after version."""
    return {} if value is None else {name: dg.MetadataValue.float(float(value))}


def gate_metadata(
    facts: dict[str, Any],
    comparison,
    decision,
    challenger_holdout: float | None,
    audit_entry: dg.MetadataValue | None = None,
    quality_evaluation_id: str | None = None,
) -> dict[str, dg.MetadataValue]:
    """The gate's metadata: the decision, both versions, the comparison's rows and scores (named with the metric
    m: challenger_<m>, champion_<m>, champion_holdout_<m>, challenger_holdout_<m>); then the audit entry of a
    promotion and the quality evaluation that asked for the retrain, when there are."""
    m, held = facts["metric"], facts["champion_holdout_metric"]
    metadata = {
        "metric": dg.MetadataValue.text(m),
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
        **optional_float(f"challenger_{m}", comparison.challenger_score),
        **optional_float(f"champion_{m}", comparison.champion_score),
        **optional_float("relative_improvement", decision.improvement),
        **optional_float(f"champion_holdout_{held}", facts["champion_holdout"]),
        **optional_float(f"challenger_holdout_{m}", challenger_holdout),
    }
    if audit_entry is not None:
        metadata["audit_entry"] = audit_entry
    if quality_evaluation_id:
        metadata["quality_evaluation_id"] = dg.MetadataValue.text(quality_evaluation_id)
    return metadata


def unchanged_result(version: str, holdout: float | None, metric_name: str = "rmsle") -> dg.MaterializeResult:
    """The gate's result when the challenger is the champion already (put there by another run): no decision."""
    return dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        metadata={
            "decision": dg.MetadataValue.text("unchanged"),
            "promoted": dg.MetadataValue.bool(False),
            "champion_version": dg.MetadataValue.text(version),
            "challenger_version": dg.MetadataValue.text(version),
            **optional_float(f"champion_holdout_{metric_name}", holdout),
        },
    )


def trust_of(monitor: Monitor) -> tuple[str, ...]:
    """The types the monitor's configuration trusts beyond the platform's list (its training.estimator)."""
    from drift_platform.core.ml.model_registry import configured_trust

    return configured_trust(monitor.training)


def _load_champion(models, version: str | None, trusted: tuple[str, ...] = ()):
    from drift_platform.core.ml.model_registry import ModelIntegrityError, load_model

    if version is None:
        return None, None
    try:
        return load_model(models, version, trusted_extra=trusted)
    except ModelIntegrityError as exc:
        raise dg.Failure(
            description=f"the champion in service is not intact: {exc}. Put an intact version back in service "
            "with the rollback job, then retrain.",
            allow_retries=False,
        ) from exc


def run_gate(
    context: dg.AssetExecutionContext,
    monitor: Monitor,
    warehouse: WarehouseResource,
    models: ScopedStore,
    challenger: tuple[Any, str, Any],
    start,
    settings: GateSettings,
):
    """Load the champion `start` compares with, score it and the challenger (model, version) on the history,
    and decide (the challenger: model, version, its Scoring). A resumed gate (its promotion written by an earlier attempt) keeps the challenger in service
    whatever the new decision. Returns the champion's manifest (None without a champion), the comparison and
    the decision."""
    from drift_platform.core.ml.gate import seen_until
    from drift_platform.core.ml.training import compare_models, decide

    model, version, scoring = challenger
    champion, champion_manifest = _load_champion(models, start.compare_with, trust_of(monitor))
    history = warehouse.read(monitor.table("history"), monitor.spec.layout)
    seen = seen_until(champion_manifest) if champion_manifest else None
    comparison = compare_models(model, history, monitor.spec, settings, champion, seen, monitor.cadence, scoring)
    decision = decide(comparison, champion is not None, settings.min_improvement)
    if start.resumed and not decision.promote:  # cannot happen with the same data; the pointer is what serves
        context.log.warning(f"re-deciding a retried promotion gave {decision.outcome}; {version} stays")
        decision = dataclasses.replace(decision, promote=True, outcome="promoted")
    return champion_manifest, comparison, decision


def promote(models: ScopedStore, version: str, comparison, decision, run_id: str) -> str:
    """Put `version` in service (`models/champion.json`), audited with both scores; the audit entry's key."""
    from drift_platform.core.ml.model_registry import set_champion

    details = {
        f"challenger_{comparison.metric}": comparison.challenger_score,
        f"champion_{comparison.metric}": comparison.champion_score,
        "eval_periods": comparison.periods,
        "eval_rows": comparison.eval_rows,
    }
    entry = set_champion(
        models, version, action="promote", reason=decision.reason, run_id=run_id, details=details
    )
    return entry["audit_key"]


def announce_outcome(
    context: dg.AssetExecutionContext, monitor: Monitor, alerts: Alerter, facts: dict[str, Any]
) -> dict[str, dg.MetadataValue]:
    """Send the retrain's outcome to Slack when the retrain sensor requested the run (once per run); returns the
    metadata saying whether it was delivered, or nothing for a retrain started by hand."""
    from drift_platform.core.ml.gate import gate_alert

    if TAG_TRIGGER not in context.run.tags:
        return {}
    text = gate_alert(monitor.name, facts, alerts.run_url(context.run.run_id))
    delivered = alerts.send(text, context.log, channel=monitor.slack_channel)
    if not delivered:
        context.log.error("the retrain's outcome could not be sent to Slack; it is in this materialization")
    return {"alert_delivered": dg.MetadataValue.bool(delivered)}


def build_champion_model(monitor: Monitor) -> dg.AssetsDefinition:
    """The `champion_model` asset of a monitor, configured by the gate's settings (`GateConfig_<monitor>`)."""
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

        The challenger (the version `trained_model` just wrote) and the champion are scored by the monitor's metric
        (`training.metric`: RMSLE by default, log loss for a classifier) on the same
        recent labelled rows: those of the last `eval_periods` periods of the history that the champion's fit has
        not seen. The challenger in the store was fitted on almost all of the history, these rows included, so
        for the comparison its pipeline, with the hyperparameters it chose, is refitted walk-forward: before each
        evaluated period, on every earlier row. The challenger is promoted only when its RMSLE is lower by at
        least `min_improvement`, or when there is no champion yet. Decision, both scores, the periods and the row
        counts are metadata; a retrain requested by the retrain sensor also reports the outcome in Slack. "Better"
        follows the metric: lower for an error, higher for ROC AUC, F1, accuracy."""
        from drift_platform.core.ml.gate import gate_facts, holdout_of, metric_of
        from drift_platform.core.ml.model_registry import champion_version, gate_start, load_model
        from drift_platform.core.ml.training import scoring_from_manifest

        settings = settings_from(config, monitor.gate)
        models, run_id, tags = store.scoped(monitor.name), context.run.run_id, context.run.tags
        version = trained_model["version"]
        challenger, manifest = load_model(models, version, trusted_extra=trust_of(monitor))
        start = gate_start(champion_version(models), version, run_id)
        holdout = holdout_of(manifest)
        if start.already_champion:
            context.log.info(f"{version} is already the champion: nothing to decide")
            return unchanged_result(version, holdout, metric_of(manifest))
        champion_manifest, comparison, decision = run_gate(
            context, monitor, warehouse, models, (challenger, version, scoring_from_manifest(manifest)), start,
            settings,
        )
        promoting = decision.promote and not start.resumed  # a resumed gate wrote its promotion already
        audit_key = promote(models, version, comparison, decision, run_id) if promoting else None
        serving = manifest if decision.promote else champion_manifest  # the model now in service
        facts = gate_facts(
            tags, comparison, decision, version, start.compare_with, settings.min_improvement, serving
        )
        context.log.info(f"gate: {decision.outcome} ({decision.reason}); champion now {facts['in_service']}")
        audit_entry = models.link(audit_key) if audit_key else None
        quality_id = tags.get(TAG_QUALITY_EVALUATION_ID)
        metadata = gate_metadata(facts, comparison, decision, holdout, audit_entry, quality_id)
        metadata.update(announce_outcome(context, monitor, alerts, facts))
        data_version = dg.DataVersion(facts["in_service"] or "none")
        return dg.MaterializeResult(data_version=data_version, metadata=metadata)

    return champion_model
