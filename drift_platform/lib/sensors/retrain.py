"""`<monitor>_retrain_on_drift_sensor`: every FAILED evaluation of a monitor's checks gets one retrain of that
monitor and one alert naming it.

One sensor per monitor (each with its own cursor, interval and job): a monitor's failures can neither start
another monitor's retrain nor hold back its alerts. Watched checks: `no_dataset_drift` (the period's data
drifted), `no_model_degradation` (the champion's error on the period's labels grew: concept drift) and, unless the
monitor turns it off, `no_multivariate_drift` (the columns' joint distribution moved). The monitor's `retrain_on`
says which of them retrain and alert (by default not the multivariate one); failures of the others are still
settled in the cursor, and counted in the skip reason.

A failed non-blocking check leaves its run successful, so run-failure sensors never see it; this sensor reads
the checks' evaluations from the instance instead. Exactly once, also across daemon restarts:

- the cursor holds, per check, a watermark (every evaluation id at or below it is settled) and the ids above it
  already handled; an evaluation whose run has not finished holds the watermark back, so a slow run that fails
  after a faster one is not skipped;
- a failed evaluation is acted on once its run has finished: all checks of one period's run are then known, and
  when several failed they make ONE retrain and ONE alert (and the retrain finds the period in the history);
- each retrain request has a run_key: `no_dataset_drift:<evaluation id>` when the data drifted (with or without
  degradation), `no_model_degradation:<evaluation id>` when only the model degraded, `no_multivariate_drift:<id>`
  when only that acted-on check failed; Dagster launches it once
  even if a tick is repeated;
- an alert that Slack did not take is kept in the cursor and retried on the next ticks, and its failure is
  logged where the team sees it (the sensor's tick log); it never blocks the retrain. A ledger in the instance
  (alert_ledger.py) keeps an alert from being sent twice when a tick dies before its cursor is saved.

The tick is a pure plan (`plan_retrains`, `advance`) between reading the instance (`scan`) and the effects
(`deliver`: posting alerts).
"""

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

from drift_platform.core.names import (
    DRIFT_REPORT,
    NO_DATASET_DRIFT_CHECK,
    NO_MODEL_DEGRADATION_CHECK,
    NO_MULTIVARIATE_DRIFT_CHECK,
    PREDICTIONS,
    TAG_EVALUATION_ID,
    TAG_MONITOR,
    TAG_PERIOD,
    TAG_QUALITY_EVALUATION_ID,
    TAG_TRIGGER,
    TRIGGER_DRIFT,
    TRIGGER_MULTIVARIATE,
    TRIGGER_QUALITY,
)
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import asset_key
from drift_platform.lib.sensors import alert_ledger
from drift_platform.resources.alerts import Alerter

PAGE_SIZE = 100
ALERT_GIVE_UP_AFTER_S = 24 * 3600
ALERT_TICK_BUDGET_S = 20  # a tick stops trying alerts after this long; Dagster times a tick out at 60 s


def watched_checks(monitor: Monitor) -> dict[str, dg.AssetCheckKey]:
    """The monitor's checks the sensor reads, by check name."""
    checks = {
        NO_DATASET_DRIFT_CHECK: dg.AssetCheckKey(asset_key(monitor, DRIFT_REPORT), NO_DATASET_DRIFT_CHECK),
        NO_MODEL_DEGRADATION_CHECK: dg.AssetCheckKey(asset_key(monitor, PREDICTIONS), NO_MODEL_DEGRADATION_CHECK),
    }
    if monitor.multivariate.enabled:
        checks[NO_MULTIVARIATE_DRIFT_CHECK] = dg.AssetCheckKey(asset_key(monitor, DRIFT_REPORT),
                                                               NO_MULTIVARIATE_DRIFT_CHECK)
    return checks


@dataclass
class CheckCursor:
    watermark: int = 0
    handled: list[int] = field(default_factory=list)


@dataclass
class DriftSensorCursor:
    checks: dict[str, CheckCursor] = field(default_factory=dict)  # by check name
    pending_alerts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: str | None) -> "DriftSensorCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            checks={name: CheckCursor(**value) for name, value in data.get("checks", {}).items()},
            pending_alerts=list(data.get("pending_alerts", [])),
        )

    def check(self, name: str) -> CheckCursor:
        return self.checks.setdefault(name, CheckCursor())

    def serialize(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


# --- reading the instance ----------------------------------------------------------------------------------------
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


@dataclass
class Scan:
    """What a tick found: new failed evaluations grouped by (run, partition), and per check the ids seen and
    those whose run is still going."""

    failed: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)
    in_flight: dict[str, list[int]] = field(default_factory=dict)
    seen: dict[str, list[int]] = field(default_factory=dict)


def scan(instance: dg.DagsterInstance, state: DriftSensorCursor, checks: Mapping[str, dg.AssetCheckKey]) -> Scan:
    found = Scan()
    for name, key in checks.items():
        cursor = state.check(name)
        handled = set(cursor.handled)
        records = records_after(instance, key, cursor.watermark)
        found.seen[name] = [r.id for r in records]
        for record in records:
            if not is_settled(instance, record):
                found.in_flight.setdefault(name, []).append(record.id)
            elif record.id not in handled and record.status.value == "FAILED":
                found.failed.setdefault((record.run_id, record.partition), {}).setdefault(name, record)
                cursor.handled.append(record.id)
    return found


# --- the plan ----------------------------------------------------------------------------------------------------
def _metadata(record: Any) -> dict[str, Any]:
    evaluation = record.event.dagster_event.event_specific_data
    return {key: getattr(value, "value", value) for key, value in (evaluation.metadata or {}).items()}


def _facts(record: Any, **fields: tuple[str, Any]) -> dict[str, Any]:
    """An evaluation's id, run and period, and each field from its metadata: name=(metadata key, default)."""
    meta = _metadata(record)
    return {"evaluation_id": record.id, "run_id": record.run_id, "period": record.partition or meta.get("period", "?"),
            **{name: meta.get(key, default) for name, (key, default) in fields.items()}}


def evaluation_facts(record: Any) -> dict[str, Any]:
    """Period, drift share, drifted columns and report location from a drift evaluation's metadata."""
    return _facts(record, drift_share=("drift_share", None), threshold=("drift_share_threshold", None),
                  drifted_columns=("drifted_columns", "-"),
                  report=("report_url", None),  # its page in Evidently's UI (None: the viewer did not take it)
                  report_file=("report_html", "-"))


def quality_facts(record: Any) -> dict[str, Any]:
    """Period, model version, the period's RMSLE, the holdout RMSLE, their ratio and the bound."""
    return _facts(record, model_version=("model_version", "?"), rmsle=("rmsle", None),
                  holdout_rmsle=("holdout_rmsle", None), ratio=("rmsle_ratio", None), max_ratio=("max_ratio", None),
                  bound=("bound_rmsle", None), method=("bound_method", "ratio"), note=("note", None))


def multivariate_facts(record: Any) -> dict[str, Any]:
    """Period, the domain classifier's AUC, its threshold and the columns it leaned on."""
    return _facts(record, auc=("auc", None), threshold=("threshold", None), p_value=("p_value", None),
                  top_columns=("top_columns", "-"))


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "?"


def format_alert(monitor: Monitor, drift: dict[str, Any] | None, quality: dict[str, Any] | None, alerts: Alerter,
                 run_key: str, multivariate: dict[str, Any] | None = None) -> str:
    label = monitor.period_label
    parts = []
    if drift is not None:
        parts.append(
            f":warning: *[{monitor.name}] Data drift* in {label} {drift['period']}: drift share "
            f"{_num(drift['drift_share'], '.2f')} (threshold {_num(drift['threshold'], '.2f')})\n"
            f"Drifted columns: {drift['drifted_columns']}\n"
            + (f"Report: {drift['report']}\n" if drift.get("report") else "")
            + f"Report file: {drift['report_file']}"
        )
    if quality is not None:
        if quality.get("method") == "baseline":
            against = (f"above the bound {_num(quality['bound'], '.4f')} its recipe's walk-forward errors set "
                       f"({quality.get('note') or '-'})")
        else:
            against = (f"vs {_num(quality['holdout_rmsle'], '.4f')} on its holdout (ratio "
                       f"{_num(quality['ratio'], '.2f')}, bound {_num(quality['max_ratio'], '.2f')})")
        parts.append(
            f":warning: *[{monitor.name}] Model degradation* in {label} {quality['period']}: champion "
            f"`{quality['model_version']}` RMSLE {_num(quality['rmsle'], '.4f')} {against}"
        )
    if multivariate is not None:
        parts.append(
            f":warning: *[{monitor.name}] Multivariate drift* in {label} {multivariate['period']}: a classifier "
            f"tells the period's rows from the reference's (AUC {_num(multivariate['auc'], '.3f')} above the "
            f"threshold {_num(multivariate['threshold'], '.3f')} the reference's own chunks set, p = "
            f"{_num(multivariate['p_value'], '.3f')}); it leaned on {multivariate['top_columns']}"
        )
    run_ids = list(dict.fromkeys(f["run_id"] for f in (drift, quality, multivariate) if f is not None))
    retrains = f"{alerts.dagster_ui_url.rstrip('/')}/runs?q%5B0%5D=tag%3Adagster%2Frun_key%3D{run_key}"
    return (
        "\n".join(parts) + "\n"
        + "".join(f"Check run: {alerts.run_url(run_id)}\n" for run_id in run_ids)
        + f"Retraining requested (`{monitor.job_name('retrain_job')}`, run key `{run_key}`): {retrains}"
    )


def run_key_for(evaluation_id: int, check: str = NO_DATASET_DRIFT_CHECK) -> str:
    return f"{check}:{evaluation_id}"


def plan_retrains(
    monitor: Monitor, failed: Iterable[dict[str, Any]], alerts: Alerter, now: float
) -> tuple[list[dg.RunRequest], list[dict[str, Any]], int]:
    """One retrain request and one alert per run and period with a failed check the monitor acts on; returns
    the requests, the alerts to send and how many failures it does not act on."""
    requests, queued, ignored = [], [], 0
    for group in sorted(failed, key=lambda g: min(r.id for r in g.values())):
        acted = {name: record for name, record in group.items() if name in monitor.retrain_on}
        ignored += len(group) - len(acted)
        if not acted:
            continue
        drift_record, quality_record = acted.get(NO_DATASET_DRIFT_CHECK), acted.get(NO_MODEL_DEGRADATION_CHECK)
        multivariate_record = acted.get(NO_MULTIVARIATE_DRIFT_CHECK)
        drift = evaluation_facts(drift_record) if drift_record is not None else None
        quality = quality_facts(quality_record) if quality_record is not None else None
        multivariate = multivariate_facts(multivariate_record) if multivariate_record is not None else None
        # The run key names the first of the run's acted-on failures in this order (one retrain per run and period).
        primary_name, primary = next((name, acted[name]) for name in (
            NO_DATASET_DRIFT_CHECK, NO_MODEL_DEGRADATION_CHECK, NO_MULTIVARIATE_DRIFT_CHECK) if name in acted)
        run_key = run_key_for(primary.id, primary_name)
        triggers = ((TRIGGER_DRIFT, drift), (TRIGGER_QUALITY, quality), (TRIGGER_MULTIVARIATE, multivariate))
        tags = {
            TAG_MONITOR: monitor.name,
            TAG_EVALUATION_ID: str(primary.id),
            TAG_PERIOD: str((drift or quality or multivariate)["period"]),
            TAG_TRIGGER: "+".join(t for t, f in triggers if f is not None),
        }
        if quality is not None:
            tags[TAG_QUALITY_EVALUATION_ID] = str(quality_record.id)
        requests.append(dg.RunRequest(run_key=run_key, tags=tags))
        queued.append({"evaluation_id": primary.id, "run_key": run_key,
                       "text": format_alert(monitor, drift, quality, alerts, run_key, multivariate), "since": now})
    return requests, queued, ignored


def advance(state: DriftSensorCursor, found: Scan) -> None:
    """Move each check's watermark past what is settled; an evaluation still in flight holds it back."""
    for name, ids in found.seen.items():
        cursor = state.check(name)
        if found.in_flight.get(name):
            cursor.watermark = min(found.in_flight[name]) - 1
        elif ids:
            cursor.watermark = max(ids)
        cursor.handled = sorted(i for i in set(cursor.handled) if i > cursor.watermark)


# --- the effects -------------------------------------------------------------------------------------------------
def deliver(
    pending: list[dict[str, Any]], send: Callable[[str], bool], ledger: tuple[Callable[[str], bool], Callable[[str], None]],
    log: Any, clock: Callable[[], float] = time.time,
) -> list[dict[str, Any]]:
    """Send the waiting alerts within the tick's budget; returns those still waiting. `ledger` is (was_sent,
    mark_sent) on the alert's id."""
    was_sent, mark_sent = ledger
    still_pending = []
    started = time.monotonic()
    for alert in pending:
        alert_id = alert.get("run_key") or str(alert["evaluation_id"])
        if was_sent(alert_id):
            continue  # delivered by a tick whose cursor was lost (the daemon died before saving it)
        if time.monotonic() - started > ALERT_TICK_BUDGET_S:
            still_pending.append(alert)  # Slack is slow: the rest waits for the next tick
        elif send(alert["text"]):
            mark_sent(alert_id)
        elif clock() - alert["since"] > ALERT_GIVE_UP_AFTER_S:
            log.error(f"giving up on the alert for evaluation {alert['evaluation_id']}: {alert['text']}")
        else:
            still_pending.append(alert)
    return still_pending


def skip_reason(monitor: Monitor, state: DriftSensorCursor, found: Scan, ignored: int, waiting: int) -> str:
    clauses = []
    for name in found.seen:
        clause = f"no new failed {name} evaluation since id {state.check(name).watermark}"
        if found.in_flight.get(name):
            clause += f" ({len(found.in_flight[name])} in flight)"
        if name not in monitor.retrain_on:
            clause += " (not acted on: not in retrain_on)"
        clauses.append(clause)
    if ignored:
        clauses.append(f"{ignored} failure(s) of checks not in retrain_on ignored")
    if waiting:
        clauses.append(f"{waiting} alert(s) waiting for Slack")
    return "; ".join(clauses)


def evaluate(context: dg.SensorEvaluationContext, monitor: Monitor, alerts: Alerter) -> dg.SensorResult:
    """One tick: settle the new evaluations of the monitor's checks, request a retrain and queue an alert for
    each run and period where one failed, deliver the alerts waiting for Slack."""
    state = DriftSensorCursor.parse(context.cursor)
    found = scan(context.instance, state, watched_checks(monitor))
    requests, queued, ignored = plan_retrains(monitor, found.failed.values(), alerts, time.time())
    ledger = (lambda i: alert_ledger.was_sent(context.instance, monitor.name, i),
              lambda i: alert_ledger.mark_sent(context.instance, monitor.name, i))
    state.pending_alerts = deliver(
        [*state.pending_alerts, *queued],
        lambda text: alerts.send(text, context.log, channel=monitor.slack_channel), ledger, context.log,
    )
    advance(state, found)
    skip = None if requests else dg.SkipReason(skip_reason(monitor, state, found, ignored, len(state.pending_alerts)))
    return dg.SensorResult(run_requests=requests, skip_reason=skip, cursor=state.serialize())


def build_retrain_sensor(monitor: Monitor, retrain_job) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{monitor.name}_retrain_on_drift_sensor",
        job=retrain_job,
        minimum_interval_seconds=monitor.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Retrain {monitor.name} and alert once for every failed evaluation of "
        f"{', '.join(monitor.retrain_on) or 'no check'} (one per run and period).",
    )
    def retrain_on_drift_sensor(context: dg.SensorEvaluationContext, alerts: Alerter) -> dg.SensorResult:
        return evaluate(context, monitor, alerts)

    return retrain_on_drift_sensor
