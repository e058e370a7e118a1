"""retrain_on_drift_sensor: every FAILED evaluation of the watched checks gets one retrain and one alert.

Watched checks: `no_dataset_drift` (the week's data drifted) and `no_model_degradation` (the champion's error on
the week's labels grew: concept drift). The second is switched by DRIFT_RETRAIN_ON_QUALITY (default true, read
when the code location loads); switched off, its failures are still settled in the cursor but neither retrain
nor alert.

A failed non-blocking check leaves its run successful, so run-failure sensors never see it; this sensor reads
the checks' evaluations from the instance instead. Exactly once, also across daemon restarts:

- the cursor holds, per check, a watermark (every evaluation id at or below it is settled) and the ids above it
  already handled; an evaluation whose run has not finished holds the watermark back, so a slow run that fails
  after a faster one is not skipped;
- a failed evaluation is acted on once its run has finished: both checks of one week's run are then known, and
  when both failed they make ONE retrain and ONE alert (and the retrain finds the week in the history);
- each retrain request has a run_key: `no_dataset_drift:<evaluation id>` when the data drifted (with or without
  degradation), `no_model_degradation:<evaluation id>` when only the model degraded; Dagster launches it once
  even if a tick is repeated;
- an alert that Slack did not take is kept in the cursor and retried on the next ticks, and its failure is
  logged where the team sees it (the sensor's tick log); it never blocks the retrain.

The cursor of the single-check version (`{"watermark", "handled", "pending_alerts"}`) is read as the drift
check's state, so upgrading neither repeats nor loses a retrain.
"""


import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

from drift_platform import alert_ledger
from drift_platform.constants import (
    NO_DATASET_DRIFT_CHECK,
    NO_MODEL_DEGRADATION_CHECK,
    TAG_DRIFTED_WEEK,
    TAG_EVALUATION_ID,
    TAG_QUALITY_EVALUATION_ID,
    TAG_TRIGGER,
    TRIGGER_DRIFT,
    TRIGGER_QUALITY,
)
from drift_platform.jobs import retrain_job
from drift_platform.resources.alerts import Alerter
from drift_platform.settings import sensor_interval_seconds

DRIFT_CHECK_KEY = dg.AssetCheckKey(dg.AssetKey("drift_report"), NO_DATASET_DRIFT_CHECK)
QUALITY_CHECK_KEY = dg.AssetCheckKey(dg.AssetKey("predictions"), NO_MODEL_DEGRADATION_CHECK)
WATCHED_CHECKS = (DRIFT_CHECK_KEY, QUALITY_CHECK_KEY)
CHECK_KEY = DRIFT_CHECK_KEY  # the single check of earlier versions
PAGE_SIZE = 100
ALERT_GIVE_UP_AFTER_S = 24 * 3600
ALERT_TICK_BUDGET_S = 20  # a tick stops trying alerts after this long; Dagster times a tick out at 60 s


def retrain_on_quality(env: Mapping[str, str] = os.environ) -> bool:
    """DRIFT_RETRAIN_ON_QUALITY: whether a failed no_model_degradation evaluation retrains and alerts (default true)."""
    raw = (env.get("DRIFT_RETRAIN_ON_QUALITY") or "true").strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"DRIFT_RETRAIN_ON_QUALITY must be true or false, got {raw!r}")
    return raw in ("true", "1", "yes")


def check_name(key: dg.AssetCheckKey) -> str:
    return key.to_user_string()


@dataclass
class CheckCursor:
    watermark: int = 0
    handled: list[int] = field(default_factory=list)


@dataclass
class DriftSensorCursor:
    checks: dict[str, CheckCursor] = field(default_factory=dict)
    pending_alerts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: str | None) -> "DriftSensorCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        if "checks" not in data:  # the single-check cursor: it was the drift check's
            data = {
                "checks": {check_name(DRIFT_CHECK_KEY): {"watermark": data.get("watermark", 0),
                                                          "handled": data.get("handled", [])}},
                "pending_alerts": data.get("pending_alerts", []),
            }
        return cls(
            checks={key: CheckCursor(**value) for key, value in data["checks"].items()},
            pending_alerts=list(data.get("pending_alerts", [])),
        )

    def check(self, key: dg.AssetCheckKey) -> CheckCursor:
        return self.checks.setdefault(check_name(key), CheckCursor())

    def serialize(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def records_after(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, watermark: int) -> list[Any]:
    """Every evaluation record of the check with an id above the watermark, oldest first."""
    records: list[Any] = []
    cursor = None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=PAGE_SIZE, cursor=cursor)
        fresh = [r for r in page if r.id > watermark]
        records.extend(fresh)
        if len(page) < PAGE_SIZE or len(fresh) < len(page):
            break
        cursor = page[-1].id
    return sorted(records, key=lambda r: r.id)


def is_settled(instance: dg.DagsterInstance, record: Any) -> bool:
    """Settled: it passed, or its run has finished (a failure is final then, and so are the run's other checks;
    a run that ended without a result, failed or canceled before the check ran, leaves it PLANNED)."""
    if record.status.value == "SUCCEEDED":
        return True
    run = instance.get_run_by_id(record.run_id)
    return run is None or run.is_finished


def _metadata(record: Any) -> dict[str, Any]:
    evaluation = record.event.dagster_event.event_specific_data
    return {key: getattr(value, "value", value) for key, value in (evaluation.metadata or {}).items()}


def evaluation_facts(record: Any) -> dict[str, Any]:
    """Week, drift share, drifted columns and report location from a drift evaluation's metadata."""
    meta = _metadata(record)
    return {
        "evaluation_id": record.id,
        "run_id": record.run_id,
        "week": record.partition or meta.get("week", "?"),
        "drift_share": meta.get("drift_share"),
        "threshold": meta.get("drift_share_threshold"),
        "drifted_columns": meta.get("drifted_columns", "-"),
        "report": meta.get("report_html", "-"),
    }


def quality_facts(record: Any) -> dict[str, Any]:
    """Week, model version, the week's RMSLE, the holdout RMSLE, their ratio and the bound from a quality evaluation."""
    meta = _metadata(record)
    return {
        "evaluation_id": record.id,
        "run_id": record.run_id,
        "week": record.partition or meta.get("week", "?"),
        "model_version": meta.get("model_version", "?"),
        "rmsle": meta.get("rmsle"),
        "holdout_rmsle": meta.get("holdout_rmsle"),
        "ratio": meta.get("rmsle_ratio"),
        "max_ratio": meta.get("max_ratio"),
    }


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "?"


def format_alert(drift: dict[str, Any] | None, quality: dict[str, Any] | None, alerts: Alerter, run_key: str) -> str:
    parts = []
    if drift is not None:
        parts.append(
            f":warning: *Data drift* in week {drift['week']}: drift share {_num(drift['drift_share'], '.2f')} "
            f"(threshold {_num(drift['threshold'], '.2f')})\n"
            f"Drifted columns: {drift['drifted_columns']}\n"
            f"Report: {drift['report']}"
        )
    if quality is not None:
        parts.append(
            f":warning: *Model degradation* in week {quality['week']}: champion `{quality['model_version']}` "
            f"RMSLE {_num(quality['rmsle'], '.4f')} vs {_num(quality['holdout_rmsle'], '.4f')} on its holdout "
            f"(ratio {_num(quality['ratio'], '.2f')}, bound {_num(quality['max_ratio'], '.2f')})"
        )
    run_ids = list(dict.fromkeys(f["run_id"] for f in (drift, quality) if f is not None))
    retrains = f"{alerts.dagster_ui_url.rstrip('/')}/runs?q%5B0%5D=tag%3Adagster%2Frun_key%3D{run_key}"
    return (
        "\n".join(parts) + "\n"
        + "".join(f"Check run: {alerts.run_url(run_id)}\n" for run_id in run_ids)
        + f"Retraining requested (`retrain_job`, run key `{run_key}`): {retrains}"
    )


def run_key_for(evaluation_id: int, check: str = NO_DATASET_DRIFT_CHECK) -> str:
    return f"{check}:{evaluation_id}"


def evaluate(context: dg.SensorEvaluationContext, alerts: Alerter, act_on_quality: bool) -> dg.SensorResult:
    """One tick: settle the new evaluations of the watched checks, request a retrain and queue an alert for
    each run and week where one failed, deliver the alerts waiting for Slack."""
    state = DriftSensorCursor.parse(context.cursor)
    failed: dict[tuple[str, str | None], dict[dg.AssetCheckKey, Any]] = {}
    in_flight: dict[dg.AssetCheckKey, list[int]] = {}
    seen: dict[dg.AssetCheckKey, list[int]] = {}
    for key in WATCHED_CHECKS:
        cursor = state.check(key)
        handled = set(cursor.handled)
        records = records_after(context.instance, key, cursor.watermark)
        seen[key] = [r.id for r in records]
        for record in records:
            if not is_settled(context.instance, record):
                in_flight.setdefault(key, []).append(record.id)
                continue
            if record.id in handled or record.status.value != "FAILED":
                continue
            failed.setdefault((record.run_id, record.partition), {}).setdefault(key, record)
            cursor.handled.append(record.id)

    run_requests: list[dg.RunRequest] = []
    ignored_quality = 0
    for group in sorted(failed.values(), key=lambda g: min(r.id for r in g.values())):
        drift_record, quality_record = group.get(DRIFT_CHECK_KEY), group.get(QUALITY_CHECK_KEY)
        if quality_record is not None and not act_on_quality:
            ignored_quality += 1
            quality_record = None
        if drift_record is None and quality_record is None:
            continue
        drift = evaluation_facts(drift_record) if drift_record is not None else None
        quality = quality_facts(quality_record) if quality_record is not None else None
        primary = drift_record if drift_record is not None else quality_record
        run_key = run_key_for(primary.id, NO_DATASET_DRIFT_CHECK if drift else NO_MODEL_DEGRADATION_CHECK)
        trigger = "+".join(t for t, f in ((TRIGGER_DRIFT, drift), (TRIGGER_QUALITY, quality)) if f is not None)
        tags = {
            TAG_EVALUATION_ID: str(primary.id),
            TAG_DRIFTED_WEEK: str((drift or quality)["week"]),
            TAG_TRIGGER: trigger,
        }
        if quality is not None:
            tags[TAG_QUALITY_EVALUATION_ID] = str(quality_record.id)
        run_requests.append(dg.RunRequest(run_key=run_key, tags=tags))
        state.pending_alerts.append(
            {
                "evaluation_id": primary.id,
                "run_key": run_key,
                "text": format_alert(drift, quality, alerts, run_key),
                "since": time.time(),
            }
        )

    still_pending = []
    started = time.monotonic()
    for alert in state.pending_alerts:
        alert_id = alert.get("run_key") or str(alert["evaluation_id"])
        if alert_ledger.was_sent(context.instance, alert_id):
            continue  # delivered by a tick whose cursor was lost (the daemon died before saving it)
        if time.monotonic() - started > ALERT_TICK_BUDGET_S:
            still_pending.append(alert)  # Slack is slow: the rest waits for the next tick
            continue
        if alerts.send(alert["text"], context.log):
            alert_ledger.mark_sent(context.instance, alert_id)
            continue
        if time.time() - alert["since"] > ALERT_GIVE_UP_AFTER_S:
            context.log.error(f"giving up on the alert for evaluation {alert['evaluation_id']}: {alert['text']}")
            continue
        still_pending.append(alert)
    state.pending_alerts = still_pending

    for key in WATCHED_CHECKS:
        cursor = state.check(key)
        if in_flight.get(key):
            cursor.watermark = min(in_flight[key]) - 1
        elif seen[key]:
            cursor.watermark = max(seen[key])
        cursor.handled = sorted(i for i in set(cursor.handled) if i > cursor.watermark)

    skip = None
    if not run_requests:
        clauses = []
        for key in WATCHED_CHECKS:
            clause = f"no new failed {key.name} evaluation since id {state.check(key).watermark}"
            if in_flight.get(key):
                clause += f" ({len(in_flight[key])} in flight)"
            if key == QUALITY_CHECK_KEY and not act_on_quality:
                clause += " (not acted on: DRIFT_RETRAIN_ON_QUALITY=false"
                clause += f", {ignored_quality} failure(s) ignored)" if ignored_quality else ")"
            clauses.append(clause)
        if still_pending:
            clauses.append(f"{len(still_pending)} alert(s) waiting for Slack")
        skip = dg.SkipReason("; ".join(clauses))
    return dg.SensorResult(run_requests=run_requests, skip_reason=skip, cursor=state.serialize())


RETRAIN_ON_QUALITY = retrain_on_quality()


@dg.sensor(
    job=retrain_job,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retrain and alert once for every failed no_dataset_drift evaluation and, unless "
    "DRIFT_RETRAIN_ON_QUALITY=false, every failed no_model_degradation evaluation (one per run and week).",
)
def retrain_on_drift_sensor(context: dg.SensorEvaluationContext, alerts: Alerter) -> dg.SensorResult:
    return evaluate(context, alerts, RETRAIN_ON_QUALITY)
