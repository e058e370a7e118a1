"""`<monitor>_retrain_on_drift_sensor`: every FAILED evaluation of a monitor's checks gets one retrain of that
monitor and one alert naming it. An external model's monitor (`model: {source: external}`: nothing is trained
here) has `<monitor>_on_failure_sensor` instead, the same machinery with another action: one alert, and, when the
monitor names an `on_failure_job`, one run of that job of the code location, tagged with the period, the
evaluation and the failed checks (TAG_FAILED_CHECKS); without one, alerts only.

One sensor per monitor (each with its own cursor, interval and job): a monitor's failures can neither start
another monitor's retrain nor hold back its alerts. Watched checks: `no_dataset_drift` (the period's data
drifted), `no_model_degradation` (the champion's error on the period's labels grew: concept drift; a monitor whose
labels arrive late has it on its `labels` asset, evaluated when the period's labels land) and, unless the
monitor turns them off, `no_multivariate_drift` (the columns' joint distribution moved) and
`no_data_quality_regression` (a column's missing, out-of-range or unseen-level share grew), and
`no_prediction_drift` (the model's output moved), and, for a monitor that estimates its metric,
`no_estimated_degradation` (the metric estimated before the labels land is past the bound). The monitor's
`retrain_on` says which of them retrain and alert (by default none of the last four); failures of the others are
still settled in the cursor, and counted in the skip reason.

A failed non-blocking check leaves its run successful, so run-failure sensors never see it; this sensor reads
the checks' evaluations from the instance instead. Exactly once, also across daemon restarts and a lost
cursor, rests on the instance's runs; the cursor is an optimisation (a tick reads only what is past it):

- before asking for a retrain, a tick reads the runs of the monitor's retrain job (its on_failure_job) tagged
  with one of its failed evaluations (TAG_EVALUATION_ID, in one query): an evaluation that already has one, launched by this
  sensor, by `make demo` or by hand, is settled without a new request ("retrain for evaluation N already ran:
  run <id>" in the tick's log and skip reason). So a lost cursor (the sensor renamed or re-created, its cursor
  reset in the UI, the instance migrated, `make dev` after `make demo`) starts no second retrain;
- the cursor holds, per check, a watermark (every evaluation id at or below it is settled) and the ids above it
  already handled; an evaluation whose run has not finished holds the watermark back, so a slow run that fails
  after a faster one is not skipped;
- a failed evaluation is acted on once its run has finished: all checks of one period's run are then known, and
  when several failed they make ONE retrain and ONE alert (and the retrain finds the period in the history);
- each retrain request has a run_key: `no_dataset_drift:<evaluation id>` when the data drifted (with or without
  degradation), `no_model_degradation:<evaluation id>` when only the model degraded, `no_multivariate_drift:<id>`
  or `no_data_quality_regression:<id>` (or `no_prediction_drift:<id>`, `no_estimated_degradation:<id>`) when
  only that acted-on check failed (in TRIGGERS order); Dagster launches it once even if a tick is repeated;
- an alert that Slack did not take is kept in the cursor and retried on the next ticks, and its failure is
  logged where the team sees it (the sensor's tick log); it never blocks the retrain. A ledger in the instance
  (alert_ledger.py) keeps an alert from being sent twice when the cursor is lost (a tick that dies before its
  cursor is saved, or any of the losses above): an already-retrained evaluation's alert is queued again, and
  the ledger drops it if it went out.

The tick is a pure plan (`plan_retrains`, `advance`) between reading the instance (`scan`,
`launched_evaluations`) and the effects (`deliver`: posting alerts).
"""

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

from drift_platform.core.names import (
    DRIFT_REPORT,
    LABELS,
    NO_DATA_QUALITY_CHECK,
    NO_DATASET_DRIFT_CHECK,
    NO_MODEL_DEGRADATION_CHECK,
    NO_MULTIVARIATE_DRIFT_CHECK,
    NO_PREDICTION_DRIFT_CHECK,
    PREDICTIONS,
    TAG_EVALUATION_ID,
    TAG_FAILED_CHECKS,
    TAG_MONITOR,
    TAG_PERIOD,
    TAG_QUALITY_EVALUATION_ID,
    TAG_TRIGGER,
    TRIGGER_DATA_QUALITY,
    TRIGGER_DRIFT,
    TRIGGER_ESTIMATED_DEGRADATION,
    TRIGGER_MULTIVARIATE,
    TRIGGER_PREDICTION_DRIFT,
    TRIGGER_QUALITY,
)
from drift_platform.core.names import NO_ESTIMATED_DEGRADATION_CHECK as ESTIMATED_CHECK
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import asset_key
from drift_platform.lib.sensors import alert_ledger
from drift_platform.resources.alerts import Alerter

PAGE_SIZE = 100
ALERT_GIVE_UP_AFTER_S = 24 * 3600
ALERT_TICK_BUDGET_S = 20  # a tick stops trying alerts after this long; Dagster times a tick out at 60 s


def watched_checks(monitor: Monitor) -> dict[str, dg.AssetCheckKey]:
    """The monitor's checks the sensor reads, by check name: `no_model_degradation` on the labels asset when the
    labels arrive late (else on the predictions), `no_estimated_degradation` on the predictions when the monitor
    estimates its metric."""
    quality_asset = LABELS if monitor.late_labels else PREDICTIONS
    checks = {
        NO_DATASET_DRIFT_CHECK: dg.AssetCheckKey(asset_key(monitor, DRIFT_REPORT), NO_DATASET_DRIFT_CHECK),
        NO_MODEL_DEGRADATION_CHECK: dg.AssetCheckKey(asset_key(monitor, quality_asset), NO_MODEL_DEGRADATION_CHECK),
    }
    if monitor.multivariate.enabled:
        checks[NO_MULTIVARIATE_DRIFT_CHECK] = dg.AssetCheckKey(asset_key(monitor, DRIFT_REPORT),
                                                               NO_MULTIVARIATE_DRIFT_CHECK)
    if monitor.data_quality.enabled:
        checks[NO_DATA_QUALITY_CHECK] = dg.AssetCheckKey(asset_key(monitor, DRIFT_REPORT), NO_DATA_QUALITY_CHECK)
    if monitor.prediction_drift.enabled:
        checks[NO_PREDICTION_DRIFT_CHECK] = dg.AssetCheckKey(asset_key(monitor, DRIFT_REPORT),
                                                             NO_PREDICTION_DRIFT_CHECK)
    if monitor.estimates:
        checks[ESTIMATED_CHECK] = dg.AssetCheckKey(asset_key(monitor, PREDICTIONS), ESTIMATED_CHECK)
    return checks


# Each watched check's trigger (TAG_TRIGGER), in the order run keys, triggers and alerts name them.
TRIGGERS = {
    NO_DATASET_DRIFT_CHECK: TRIGGER_DRIFT,
    NO_MODEL_DEGRADATION_CHECK: TRIGGER_QUALITY,
    NO_MULTIVARIATE_DRIFT_CHECK: TRIGGER_MULTIVARIATE,
    NO_DATA_QUALITY_CHECK: TRIGGER_DATA_QUALITY,
    NO_PREDICTION_DRIFT_CHECK: TRIGGER_PREDICTION_DRIFT,
    ESTIMATED_CHECK: TRIGGER_ESTIMATED_DEGRADATION,
}


def action_job(monitor: Monitor) -> str | None:
    """The job a failed evaluation launches: the monitor's retrain job; an external model's on_failure_job (None:
    alerts only)."""
    return monitor.model_settings.on_failure_job if monitor.external else monitor.job_name("retrain_job")


def sensor_name(monitor: Monitor) -> str:
    return f"{monitor.name}_on_failure_sensor" if monitor.external else f"{monitor.name}_retrain_on_drift_sensor"


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


def finished_runs(instance: dg.DagsterInstance, run_ids: Iterable[str]) -> set[str]:
    """The runs among `run_ids` that have finished (or are gone), each looked up once: one snapshot a tick."""
    finished = set()
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            finished.add(run_id)
    return finished


@dataclass
class Scan:
    """What a tick found: new failed evaluations grouped by (run, partition), and per check the ids seen and
    those whose run is still going."""

    failed: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)
    in_flight: dict[str, list[int]] = field(default_factory=dict)
    seen: dict[str, list[int]] = field(default_factory=dict)


def scan(instance: dg.DagsterInstance, state: DriftSensorCursor, checks: Mapping[str, dg.AssetCheckKey]) -> Scan:
    """The tick's new evaluations. Settled: passed, or its run has finished (a failure is final then, and so are
    the run's other checks; a run that ended without a result leaves it PLANNED). Whether a run has finished is
    decided once a tick, before the evaluations are read again: a run that finishes while the checks are read
    cannot have one of its failures acted on alone and another left for the next tick."""
    found = Scan()
    unsettled = {r.run_id for name, key in checks.items()
                 for r in records_after(instance, key, state.check(name).watermark) if r.status.value != "SUCCEEDED"}
    finished = finished_runs(instance, unsettled)  # every evaluation of these runs is written by now
    for name, key in checks.items():
        cursor = state.check(name)
        handled = set(cursor.handled)
        records = records_after(instance, key, cursor.watermark)
        found.seen[name] = [r.id for r in records]
        for record in records:
            if record.status.value != "SUCCEEDED" and record.run_id not in finished:
                found.in_flight.setdefault(name, []).append(record.id)
            elif record.id not in handled and record.status.value == "FAILED":
                found.failed.setdefault((record.run_id, record.partition), {}).setdefault(name, record)
                cursor.handled.append(record.id)
    return found


RUNS_QUERY_IDS = 500  # evaluation ids per runs query (older SQLite builds bind at most 999 values)


def launched_evaluations(instance: dg.DagsterInstance, job_name: str, evaluation_ids: Iterable[int]
                         ) -> dict[int, str]:
    """Which of these evaluations already have a run of the job `job_name` (the monitor's retrain job, or its
    on_failure_job) in the instance, evaluation id -> run id: its runs tagged TAG_EVALUATION_ID with one of them,
    whoever launched them (this sensor, the demo, a person) and whatever their status. One query (one per
    RUNS_QUERY_IDS ids)."""
    ids = sorted({str(i) for i in evaluation_ids})
    found: dict[int, str] = {}
    for start in range(0, len(ids), RUNS_QUERY_IDS):
        runs = instance.get_runs(dg.RunsFilter(job_name=job_name, tags={TAG_EVALUATION_ID: ids[start:start + RUNS_QUERY_IDS]}))
        for run in reversed(runs):  # newest first: the evaluation's first run names it
            found.setdefault(int(run.tags[TAG_EVALUATION_ID]), run.run_id)
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
    """Period, model version, the metric (rmsle in evaluations recorded before it was named), the period's value
    of it, the holdout's, their ratio and the bound."""
    m = _metadata(record).get("metric") or "rmsle"
    return _facts(record, model_version=("model_version", "?"), metric=("metric", "rmsle"), value=(m, None),
                  holdout=(f"holdout_{m}", None), ratio=(f"{m}_ratio", None), max_ratio=("max_ratio", None),
                  bound=(f"bound_{m}", None), method=("bound_method", "ratio"), note=("note", None))


def multivariate_facts(record: Any) -> dict[str, Any]:
    """Period, the domain classifier's AUC, its threshold and the columns it leaned on."""
    return _facts(record, auc=("auc", None), threshold=("threshold", None), p_value=("p_value", None),
                  top_columns=("top_columns", "-"))


def data_quality_facts(record: Any) -> dict[str, Any]:
    """Period, the worst column's measure, its share and bound (core/stats/quality.py's words), and every
    failed column."""
    return _facts(record, worst=("worst", "?"), failed_columns=("failed_columns", "-"))


def prediction_drift_facts(record: Any) -> dict[str, Any]:
    """Period, the model's output column that drifted first, the test, its score and threshold, and every
    drifted output column."""
    return _facts(record, column=("column", "?"), method=("method", "?"), score=("score", None),
                  threshold=("threshold", None), drifted_columns=("drifted_columns", "-"))


def estimated_facts(record: Any) -> dict[str, Any]:
    """Period, model version, the metric, its estimate and band, the bound, and whether the labels are pending,
    from a `no_estimated_degradation` evaluation's metadata."""
    return _facts(record, model_version=("model_version", "?"), metric=("metric", "rmsle"),
                  estimated=("estimated", None), lower=("lower", None), upper=("upper", None),
                  bound=("bound", None), labels=("labels", None))


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "?"


def drift_text(monitor: Monitor, label: str, drift: dict[str, Any]) -> str:
    return (f":warning: *[{monitor.name}] Data drift* in {label} {drift['period']}: drift share "
            f"{_num(drift['drift_share'], '.2f')} (threshold {_num(drift['threshold'], '.2f')})\n"
            f"Drifted columns: {drift['drifted_columns']}\n"
            + (f"Report: {drift['report']}\n" if drift.get("report") else "")
            + f"Report file: {drift['report_file']}")


def quality_text(monitor: Monitor, label: str, quality: dict[str, Any]) -> str:
    """The model-degradation part of an alert, naming the metric (e.g. "RMSLE 0.6390 above the bound ...",
    "ROC AUC 0.6100 below the bound ...")."""
    from drift_platform.core.ml.metrics import METRICS

    metric = METRICS.get(quality["metric"]) or METRICS["rmsle"]
    if quality.get("method") == "baseline":
        side = "below" if metric.greater_is_better else "above"
        values = "values" if metric.greater_is_better else "errors"
        whose = "the reference's logged predictions" if monitor.external else "its recipe's walk-forward"
        against = (f"{side} the bound {_num(quality['bound'], '.4f')} {whose} {values} set "
                   f"({quality.get('note') or '-'})")
    else:
        against = (f"vs {_num(quality['holdout'], '.4f')} on its holdout (ratio "
                   f"{_num(quality['ratio'], '.2f')}, bound {_num(quality['max_ratio'], '.2f')})")
    model = "the external model" if monitor.external else "champion"
    return (f":warning: *[{monitor.name}] Model degradation* in {label} {quality['period']}: {model} "
            f"`{quality['model_version']}` {metric.label} {_num(quality['value'], '.4f')} {against}")


def multivariate_text(monitor: Monitor, label: str, multivariate: dict[str, Any]) -> str:
    return (f":warning: *[{monitor.name}] Multivariate drift* in {label} {multivariate['period']}: a classifier "
            f"tells the period's rows from the reference's (AUC {_num(multivariate['auc'], '.3f')} above the "
            f"threshold {_num(multivariate['threshold'], '.3f')} the reference's own chunks set, p = "
            f"{_num(multivariate['p_value'], '.3f')}); it leaned on {multivariate['top_columns']}")


def data_quality_text(monitor: Monitor, label: str, data_quality: dict[str, Any]) -> str:
    return (f":warning: *[{monitor.name}] Data quality regression* in {label} {data_quality['period']}: "
            f"{data_quality['worst']}; failed columns: {data_quality['failed_columns']}")


def prediction_drift_text(monitor: Monitor, label: str, drift: dict[str, Any]) -> str:
    return (f":warning: *[{monitor.name}] Prediction drift* in {label} {drift['period']}: the model's output "
            f"`{drift['column']}` drifted ({drift['method']} score {_num(drift['score'], '.4f')}, threshold "
            f"{_num(drift['threshold'], '.4f')}); drifted output columns: {drift['drifted_columns']}")


def estimated_text(monitor: Monitor, label: str, estimated: dict[str, Any]) -> str:
    """The estimated-degradation part of an alert, e.g. "... champion `v3` estimated log loss 0.4123 [0.3900,
    0.4350] above the bound 0.3950"."""
    from drift_platform.core.ml.metrics import METRICS

    metric = METRICS.get(estimated["metric"]) or METRICS["rmsle"]
    side = "below" if metric.greater_is_better else "above"
    pending = estimated.get("labels") == "pending" or monitor.late_labels
    model = "the external model" if monitor.external else "champion"
    how = "estimated, labels pending" if pending else "estimated"
    return (f":warning: *[{monitor.name}] Estimated degradation* ({how}) in {label} {estimated['period']}: "
            f"{model} `{estimated['model_version']}` estimated {metric.label} "
            f"{_num(estimated['estimated'], '.4f')} [{_num(estimated['lower'], '.4f')}, "
            f"{_num(estimated['upper'], '.4f')}] {side} the bound {_num(estimated['bound'], '.4f')}")


# Each watched check's facts (from its evaluation's metadata) and its part of an alert.
ALERTS: dict[str, tuple[Callable[[Any], dict[str, Any]], Callable[[Monitor, str, dict[str, Any]], str]]] = {
    NO_DATASET_DRIFT_CHECK: (evaluation_facts, drift_text),
    NO_MODEL_DEGRADATION_CHECK: (quality_facts, quality_text),
    NO_MULTIVARIATE_DRIFT_CHECK: (multivariate_facts, multivariate_text),
    NO_DATA_QUALITY_CHECK: (data_quality_facts, data_quality_text),
    NO_PREDICTION_DRIFT_CHECK: (prediction_drift_facts, prediction_drift_text),
    ESTIMATED_CHECK: (estimated_facts, estimated_text),
}


def action_text(monitor: Monitor, alerts: Alerter, run_key: str) -> str:
    """The alert's last line: the run requested for it (the retrain, or the on_failure_job), or none."""
    job = action_job(monitor)
    if job is None:
        return "Alert only: the monitor names no on_failure_job (the model is trained and served elsewhere)."
    runs = f"{alerts.dagster_ui_url.rstrip('/')}/runs?q%5B0%5D=tag%3Adagster%2Frun_key%3D{run_key}"
    return f"{'Run' if monitor.external else 'Retraining'} requested (`{job}`, run key `{run_key}`): {runs}"


def format_alert(monitor: Monitor, facts: Mapping[str, dict[str, Any]], alerts: Alerter, run_key: str) -> str:
    """One alert for a run and period's acted-on failures (`facts` by check name, in TRIGGERS order)."""
    parts = [ALERTS[name][1](monitor, monitor.period_label, found) for name, found in facts.items()]
    run_ids = list(dict.fromkeys(found["run_id"] for found in facts.values()))
    return ("\n".join(parts) + "\n" + "".join(f"Check run: {alerts.run_url(run_id)}\n" for run_id in run_ids)
            + action_text(monitor, alerts, run_key))


def run_key_for(evaluation_id: int, check: str = NO_DATASET_DRIFT_CHECK) -> str:
    return f"{check}:{evaluation_id}"


@dataclass
class Plan:
    """A tick's decisions: the runs to request (retrains, or on_failure_job runs), the alerts to queue, how many
    failures it does not act on, and (evaluation id, run id) for each acted-on failure whose run already ran."""

    requests: list[dg.RunRequest] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    ignored: int = 0
    already_ran: list[tuple[int, str]] = field(default_factory=list)


def _request_for(monitor: Monitor, acted: Mapping[str, Any], alerts: Alerter, now: float
                 ) -> tuple[dg.RunRequest | None, dict[str, Any]]:
    """The run request (None: the monitor has no job to launch) and the alert for one run and period's
    acted-on failures. The run key names the first of them in TRIGGERS order (one run per run and period)."""
    facts = {name: ALERTS[name][0](acted[name]) for name in TRIGGERS if name in acted}
    primary_name = next(iter(facts))
    primary = acted[primary_name]
    run_key = run_key_for(primary.id, primary_name)
    tags = {
        TAG_MONITOR: monitor.name,
        TAG_EVALUATION_ID: str(primary.id),
        TAG_PERIOD: str(facts[primary_name]["period"]),
        TAG_TRIGGER: "+".join(TRIGGERS[name] for name in facts),
        TAG_FAILED_CHECKS: ",".join(facts),
    }
    if NO_MODEL_DEGRADATION_CHECK in acted:
        tags[TAG_QUALITY_EVALUATION_ID] = str(acted[NO_MODEL_DEGRADATION_CHECK].id)
    job = action_job(monitor)
    alert = {"evaluation_id": primary.id, "run_key": run_key, "text": format_alert(monitor, facts, alerts, run_key),
             "since": now}
    if job is None:
        return None, alert
    # The retrain sensor targets its one job; the on-failure sensor names the team's job.
    return dg.RunRequest(run_key=run_key, tags=tags, job_name=job if monitor.external else None), alert


def plan_retrains(
    monitor: Monitor, failed: Iterable[dict[str, Any]], alerts: Alerter, now: float,
    launched: Mapping[int, str] | None = None,
) -> Plan:
    """One run request (a retrain, or the on_failure_job's run; none for an external model without one) and
    one alert per run and period with a failed check the monitor acts on, unless `launched` (evaluation id ->
    run id of the job, read from the instance) holds one of its evaluations: then no request, and the alert is
    queued for the ledger to drop if it went out."""
    plan, launched = Plan(), launched or {}
    for group in sorted(failed, key=lambda g: min(r.id for r in g.values())):
        acted = {name: record for name, record in group.items() if name in monitor.retrain_on}
        plan.ignored += len(group) - len(acted)
        if not acted:
            continue
        request, alert = _request_for(monitor, acted, alerts, now)
        ran = next((r.id for r in sorted(group.values(), key=lambda r: r.id) if r.id in launched), None)
        if ran is not None:
            plan.already_ran.append((ran, launched[ran]))
        elif request is not None:
            plan.requests.append(request)
        plan.alerts.append(alert)
    return plan


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


def already_ran_message(monitor: Monitor, evaluation_id: int, run_id: str) -> str:
    what = action_job(monitor) if monitor.external else "retrain"
    return f"{what} for evaluation {evaluation_id} already ran: run {run_id}"


def skip_reason(monitor: Monitor, state: DriftSensorCursor, found: Scan, plan: Plan, waiting: int) -> str:
    clauses = [already_ran_message(monitor, *ran) for ran in plan.already_ran]
    for name in found.seen:
        clause = f"no new failed {name} evaluation since id {state.check(name).watermark}"
        if found.in_flight.get(name):
            clause += f" ({len(found.in_flight[name])} in flight)"
        if name not in monitor.retrain_on:
            clause += " (not acted on: not in retrain_on)"
        clauses.append(clause)
    if plan.ignored:
        clauses.append(f"{plan.ignored} failure(s) of checks not in retrain_on ignored")
    if waiting:
        clauses.append(f"{waiting} alert(s) waiting for Slack")
    return "; ".join(clauses)


def evaluate(context: dg.SensorEvaluationContext, monitor: Monitor, alerts: Alerter) -> dg.SensorResult:
    """One tick: settle the new evaluations of the monitor's checks, request its job's run (unless the instance
    already has one for it) and queue an alert for each run and period where one failed, deliver the alerts
    waiting for Slack."""
    job = action_job(monitor)
    state = DriftSensorCursor.parse(context.cursor)
    found = scan(context.instance, state, watched_checks(monitor))
    failed_ids = [record.id for group in found.failed.values() for record in group.values()]
    launched = launched_evaluations(context.instance, job, failed_ids) if failed_ids and job else {}
    plan = plan_retrains(monitor, found.failed.values(), alerts, time.time(), launched)
    for ran in plan.already_ran:
        context.log.info(already_ran_message(monitor, *ran))
    ledger = (lambda i: alert_ledger.was_sent(context.instance, monitor.name, i),
              lambda i: alert_ledger.mark_sent(context.instance, monitor.name, i))
    state.pending_alerts = deliver(
        [*state.pending_alerts, *plan.alerts],
        lambda text: alerts.send(text, context.log, channel=monitor.slack_channel), ledger, context.log,
    )
    advance(state, found)
    skip = None if plan.requests else dg.SkipReason(
        skip_reason(monitor, state, found, plan, len(state.pending_alerts)))
    return dg.SensorResult(run_requests=plan.requests, skip_reason=skip, cursor=state.serialize())


def sensor_description(monitor: Monitor) -> str:
    checks = ", ".join(monitor.retrain_on) or "no check"
    if not monitor.external:
        return f"Retrain {monitor.name} and alert once for every failed evaluation of {checks} (one per run and period)."
    job = action_job(monitor)
    then = f"launch `{job}` once for it, tagged with the period and the failed checks" if job else (
        "no run (the monitor names no on_failure_job)")
    return (f"Alert once for every failed evaluation of {checks} of {monitor.name} (a model trained elsewhere), "
            f"and {then} (one per run and period).")


def build_retrain_sensor(monitor: Monitor, retrain_job=None, origin: str | None = None) -> dg.SensorDefinition:
    """The monitor's sensor: `<monitor>_retrain_on_drift_sensor` targeting `retrain_job`, or, for an external
    model, `<monitor>_on_failure_sensor` targeting its on_failure_job by name (none: alerts only). Its metadata
    names the on_failure_job and the defs.yaml (`origin`), which drift_platform/definitions.py checks."""
    job = action_job(monitor)
    target = {"job_name": job} if monitor.external and job else ({} if monitor.external else {"job": retrain_job})
    metadata = {"on_failure_job": job, "defs_yaml": origin or f"monitor {monitor.name!r}"} if monitor.external and job else {}

    @dg.sensor(
        name=sensor_name(monitor),
        minimum_interval_seconds=monitor.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=sensor_description(monitor),
        metadata=metadata,
        **target,
    )
    def retrain_on_drift_sensor(context: dg.SensorEvaluationContext, alerts: Alerter) -> dg.SensorResult:
        return evaluate(context, monitor, alerts)

    return retrain_on_drift_sensor
