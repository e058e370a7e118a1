"""The embedded demo, for every monitor of the code location: its reference, a run of periods (some drift, one
degrades the model), its retrain sensor's reaction, the retrained models and the champion/challenger gate's
decision on each; then each monitor's drift trend. A monitor of a model trained elsewhere (`model: {source:
external}`) has no retrain: its on-failure sensor launches the team's job (`on_failure_job`), and the summary
says in which week its output first drifted and in which week its labels first failed the quality bound. A
monitor whose labels arrive late (`labels:`) gets its labels landed at their place in the demo's timeline
(`labels:<period>`, a run of its labels job: the period's end + label_delay), and its summary adds the metric
estimated when each period's features landed beside the one realized when its labels did, and how many weeks the
estimate was ahead.

    make demo                                   # every monitor, its demo periods; or, to choose:
    DAGSTER_HOME=$PWD/.dagster_home .venv/bin/python scripts/demo.py \
        [--monitor bike_sharing --periods 2011-01-31,2011-07-04,...]
        [--monitor paylater --periods 2024-09-02,train,2024-09-23,labels:2024-09-23]

Runs in-process on the instance at $DAGSTER_HOME (the Makefile keeps it in .dagster_home/; it must be set), so
everything it does shows up in `make dev` afterwards: runs, materializations, check results. The sensors'
cursors stay in files of the demo's own (the daemon starts with empty ones); its retrain runs (and on_failure_job
runs) carry the sensor's tags (evaluation id, period, trigger), so the daemon's sensor finds them and does not
launch them again.
"""

import argparse
import json
import time
from pathlib import Path

import dagster as dg

from drift_platform.core.names import (
    DRIFT_TREND,
    NO_DATA_QUALITY_CHECK,
    NO_DATASET_DRIFT_CHECK,
    NO_ESTIMATED_DEGRADATION_CHECK,
    NO_MODEL_DEGRADATION_CHECK,
    NO_MULTIVARIATE_DRIFT_CHECK,
    NO_PREDICTION_DRIFT_CHECK,
    REFERENCE_DATA,
    TAG_EVALUATION_ID,
    TAG_FAILED_CHECKS,
    TAG_MONITOR,
    TAG_PERIOD,
    TAG_TRIGGER,
)
from drift_platform.resources.deployment import DeploymentSettings

# Step-by-step DEBUG events stay in the instance (and the UI); the terminal shows warnings (alerts) and up.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

# The periods each shipped monitor's demo runs: quiet ones, drifting ones, and periods whose labels show
# concept drift (the model's error jumps while the features do not drift). TRAIN is a retrain by hand (the
# first model a team puts in service when it starts a monitor), so that the next period has a champion to judge.
TRAIN = "train"
DEMO_PERIODS = {
    "bike_sharing": ("2011-01-31", "2011-02-07", "2011-02-14", "2011-02-21",
                     "2011-04-11", "2011-07-04", "2011-07-11", "2011-10-10"),
    "grid_load": ("2011-02-01", "2011-02-02", "2011-02-03", "2011-02-08", "2011-02-09", "2011-03-15",
                  "2011-07-18"),
    # 09-13 quiet; 09-20 and 09-27 no dataset drift, but autumn has cooled the weekends 2-3 C below every reference
    # weekend: temp_c drifts by its own test, the multivariate check sees it, and on 09-20 the data-quality range
    # (docs/statistics.md, "Real periods"); a ticketing outage (concept drift), a winter storm, a new season
    "football": ("2021-09-13", "2021-09-20", "2021-09-27", TRAIN, "2021-10-04", "2021-10-11", "2022-02-14",
                 "2022-08-01"),
    # quiet weeks, the rival's offer (concept drift: only the log loss moves), quiet again, the price rise
    "churn": ("2023-02-13", "2023-02-20", TRAIN, "2023-02-27", "2023-03-20", "2023-03-27", "2023-04-10",
              "2023-05-01", "2023-05-08"),
    # the sales team's own model (external): a quiet summer week; the review site's first week of prediction
    # drift (3 % of the leads; the labels still pass); the week the labels fail (22 %), seven weeks on
    "lead_scoring": ("2024-06-10", "2024-09-16", "2024-11-04"),
    # labels six weeks late: a week before any model; the first model (on the reference); the console launch's
    # peak week (its estimate fails when its orders land); its labels, six weeks later, confirm; account
    # takeover (concept drift: the estimate stays flat; the labels, six weeks later, jump)
    "paylater": ("2024-09-02", TRAIN, "2024-09-23", "labels:2024-09-23", "2025-02-03", "labels:2025-02-03"),
}  # fmt: skip
# "labels:<period>": the period's labels land at this point of the demo's timeline (its end + the monitor's
# label_delay), a run of `<monitor>_labels_job`; only for a monitor whose labels arrive late (`labels:`).
LABELS_OF = "labels:"

# Each monitor has one of these sensors: a platform-served model's retrains it, an external model's launches the
# team's on_failure_job.
RETRAIN_SENSOR, ON_FAILURE_SENSOR = "_retrain_on_drift_sensor", "_on_failure_sensor"
MONITORS = Path(__file__).resolve().parents[1] / "drift_platform" / "defs" / "monitors"


def monitor_names(defs: dg.Definitions) -> list[str]:
    """The monitors of the definitions: one retrain (or on-failure) sensor each."""
    return sorted(s.name.removesuffix(suffix) for s in defs.sensors for suffix in (RETRAIN_SENSOR, ON_FAILURE_SENSOR)
                  if s.name.endswith(suffix))


def _sensor_of(defs: dg.Definitions, name: str) -> dg.SensorDefinition:
    """The monitor's retrain sensor, or its on-failure sensor when its model is trained elsewhere."""
    names = {s.name for s in defs.sensors}
    return defs.resolve_sensor_def(next(f"{name}{suffix}" for suffix in (RETRAIN_SENSOR, ON_FAILURE_SENSOR)
                                        if f"{name}{suffix}" in names))


def _check_outcome(evaluation) -> str:
    """PASSED / FAILED with the numbers that decided it: the period's metric against its bound (quality, e.g.
    "RMSLE 0.214 <= 0.427", "ROC AUC 0.71 >= 0.62"), the classifier's AUC against its threshold (multivariate);
    "not judged" when too few rows to tell."""
    from drift_platform.core.ml.metrics import METRICS

    if evaluation is None:
        return "-"
    meta = {key: value.value for key, value in evaluation.metadata.items()}
    m = meta.get("metric", "rmsle")
    label = METRICS[m].label if m in METRICS else m
    if meta.get("judged") is False:
        return "not judged" + (f" ({label} {meta[m]:.3f}; thin baseline)" if m in meta else "")
    outcome = "PASSED" if evaluation.passed else "FAILED"
    if m in meta and f"bound_{m}" in meta:
        higher = METRICS[m].greater_is_better
        sign = (">=" if higher else "<=") if evaluation.passed else ("<" if higher else ">")
        return f"{outcome} ({label} {meta[m]:.3f} {sign} {meta[f'bound_{m}']:.3f})"
    if "auc" in meta:
        return f"{outcome} (AUC {meta['auc']:.2f} {'>' if not evaluation.passed else '<='} {meta['threshold']:.2f})"
    return outcome


def _prediction_drift_outcome(evaluation) -> str:
    """PASSED / FAILED with the model output's test, score and threshold (the first output column's: the
    predicted value, or the positive class's probability), e.g. "FAILED (Wasserstein 0.102, threshold 0.1)",
    "FAILED (K-S 0.000, threshold 0.05)" (a p-value); "not judged" while there is no output to test (a platform
    monitor before its first model)."""
    if evaluation is None:
        return "-"
    meta = {key: value.value for key, value in evaluation.metadata.items()}
    if "score" not in meta:
        return "not judged"
    test = str(meta.get("method", "")).split(" ")[0]
    return (f"{'PASSED' if evaluation.passed else 'FAILED'} ({test} {meta['score']:.3f}, "
            f"threshold {meta['threshold']:.3g})")


def _data_quality_outcome(evaluation) -> str:
    """PASSED / FAILED with the worst column (the furthest above, or closest to, its bound), e.g. "FAILED
    (humidity)"; "not judged" when the check could not judge the period."""
    if evaluation is None:
        return "-"
    meta = {key: value.value for key, value in evaluation.metadata.items()}
    if "worst_column" not in meta:
        return "not judged"
    return f"{'PASSED' if evaluation.passed else 'FAILED'} ({meta['worst_column']})"


def _materialize(defs: dg.Definitions, instance: dg.DagsterInstance, key: dg.AssetKey) -> None:
    # The resolved asset carries the definitions' resources already.
    result = dg.materialize([defs.resolve_assets_def(key)], instance=instance, run_config=QUIET, selection=[key])
    assert result.success, f"{key.to_user_string()} failed"


def _retrain(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, request: dg.RunRequest) -> dict:
    """The retrain job in process with the request's tags on its run (the sensor's request's: the daemon's
    retrain sensor finds the run by its evaluation id and does not retrain that evaluation again)."""
    run = defs.resolve_job_def(f"{name}_retrain_job").execute_in_process(
        instance=instance, tags=request.tags, run_config=QUIET)
    meta = run.asset_materializations_for_node(f"{name}__trained_model")[0].metadata
    gate = run.asset_materializations_for_node(f"{name}__champion_model")[0].metadata
    m = meta["metric"].value if "metric" in meta else "rmsle"
    chosen = {"best_alpha": meta["best_alpha"].value} if "best_alpha" in meta else {
        "best_params": meta["best_params"].value}
    return {
        "period": request.tags[TAG_PERIOD], "trigger": request.tags.get(TAG_TRIGGER, "manual"),
        "evaluation": request.tags.get(TAG_EVALUATION_ID, "-"), "model_version": meta["model_version"].value,
        "train_rows": meta["train_rows"].value, **chosen, "metric": m,
        f"holdout_{m}": meta[f"holdout_{m}"].value, "promoted": "yes" if gate["promoted"].value else "no",
        f"challenger_{m}": gate[f"challenger_{m}"].value if f"challenger_{m}" in gate else None,
        f"champion_{m}": gate[f"champion_{m}"].value if f"champion_{m}" in gate else None,
        "eval_periods": gate["eval_periods"].value, "champion": gate["champion_version"].value,
        "reason": gate["reason"].value,
    }  # fmt: skip


def _on_failure_run(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest) -> dict:
    """An external model's on_failure_job (the request's job_name) in process with the request's tags, as the
    daemon would launch it: the daemon's on-failure sensor finds the run by its evaluation id and does not launch
    it again."""
    run = defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, tags=request.tags, run_config=QUIET, raise_on_error=False)
    return {"period": request.tags[TAG_PERIOD], "trigger": request.tags.get(TAG_TRIGGER, "-"),
            "failed_checks": request.tags.get(TAG_FAILED_CHECKS, "-"), "job": request.job_name,
            "evaluation": request.tags.get(TAG_EVALUATION_ID, "-"), "run": "success" if run.success else "FAILED",
            "run_id": run.run_id}  # fmt: skip


def first_failed(rows: list[dict], column: str) -> str | None:
    """The first period whose outcome in `column` is a failure (None: none failed)."""
    return next((row["period"] for row in rows if str(row.get(column, "")).startswith("FAILED")), None)


def _evaluations(result) -> dict:
    """A run's check evaluations by check name."""
    return {e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def _estimate_outcome(evaluation) -> tuple[str, str]:
    """`no_estimated_degradation`'s estimate with its band, e.g. "0.351 [0.310, 0.392]", and its verdict with the
    bound, e.g. "FAILED (> 0.343)"; "-" without an evaluation, "not evaluated" without an estimate (no model)."""
    if evaluation is None:
        return "-", "-"
    meta = {key: value.value for key, value in evaluation.metadata.items()}
    if "estimated" not in meta:
        return "-", "not evaluated"
    band = f"{meta['estimated']:.3f} [{meta['lower']:.3f}, {meta['upper']:.3f}]"
    if "bound" not in meta:
        return band, "not judged"
    from drift_platform.core.ml.metrics import METRICS

    higher = METRICS[meta["metric"]].greater_is_better
    sign = (">=" if higher else "<=") if evaluation.passed else ("<" if higher else ">")
    return band, f"{'PASSED' if evaluation.passed else 'FAILED'} ({sign} {meta['bound']:.3f})"


def label_delay(name: str):
    """A monitor's label_delay (a timedelta) from its defs.yaml; None when its labels come with the features."""
    import yaml

    from drift_platform.core.settings import LabelsSettings

    attributes = yaml.safe_load((MONITORS / name / "defs.yaml").read_text())["attributes"]
    return LabelsSettings(**attributes["labels"]).delay if attributes.get("labels") else None


def _drift_row(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, period: str) -> dict:
    """The period's drift job in process, as a row of the summary."""
    drift_job = defs.resolve_job_def(f"{name}_drift_job")
    result = drift_job.execute_in_process(partition_key=period, instance=instance, raise_on_error=False,
                                          run_config=QUIET)
    evaluations = _evaluations(result)
    report = result.output_for_node(f"{name}__drift_report") if result.success else None
    drift = evaluations.get(NO_DATASET_DRIFT_CHECK)
    estimated, estimate_check = _estimate_outcome(evaluations.get(NO_ESTIMATED_DEGRADATION_CHECK))
    return {
        "period": period,
        # when the period's features are in: its end (the drift schedule runs then)
        "features in": f"{drift_job.partitions_def.time_window_for_partition_key(period).end:%Y-%m-%d}",
        "drift_share": report["share"] if report else None,
        "drift": ("PASSED" if drift.passed else "FAILED") if drift else "ERROR",
        # the model's output (the champion's predictions, or an external model's logged ones) against the
        # reference's
        "prediction drift": _prediction_drift_outcome(evaluations.get(NO_PREDICTION_DRIFT_CHECK)),
        # the model's metric on the period against its bound; "-" while no model is in service (or, labels late,
        # until they land)
        "quality": _check_outcome(evaluations.get(NO_MODEL_DEGRADATION_CHECK)),
        "multivariate": _check_outcome(evaluations.get(NO_MULTIVARIATE_DRIFT_CHECK)),
        "data quality": _data_quality_outcome(evaluations.get(NO_DATA_QUALITY_CHECK)),
        # the metric estimated before the labels (a monitor that estimates it)
        "estimated": estimated, "estimate check": estimate_check,
        "retrain": "no",
        "report": report["report_html"] if report else "-",
    }


def _land_labels(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, period: str, row: dict) -> None:
    """The period's labels land (its labels job in process): its row gets the date they are due in the demo's
    timeline (features in + label_delay), the realized metric and `no_model_degradation`'s verdict."""
    import pandas as pd

    result = defs.resolve_job_def(f"{name}_labels_job").execute_in_process(
        partition_key=period, instance=instance, raise_on_error=False, run_config=QUIET)
    evaluation = _evaluations(result).get(NO_MODEL_DEGRADATION_CHECK)
    meta = {key: value.value for key, value in evaluation.metadata.items()} if evaluation else {}
    m = meta.get("metric")
    row.update({"labels in": f"{pd.Timestamp(row['features in']) + label_delay(name):%Y-%m-%d}",
                "realized": f"{meta[m]:.3f}" if m in meta else "-",
                "quality": _check_outcome(evaluation) if result.success else "ERROR", "retrain (labels)": "no"})


def run_monitor(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, periods: list[str]) -> dict:
    """Reference, then each period and a tick of the monitor's sensor after it (as the daemon would make one
    before the next period's run): a retrain per request, or for a model trained elsewhere a run of its team's
    on_failure_job; `labels:<period>` lands a period's labels (then a tick too); then the trend."""
    started = time.monotonic()
    _materialize(defs, instance, dg.AssetKey([name, REFERENCE_DATA]))
    sensor = _sensor_of(defs, name)
    external = sensor.name.endswith(ON_FAILURE_SENSOR)
    # The sensor's cursor between demo runs (the daemon keeps its own): a second demo acts only on its own periods.
    cursor_file = DeploymentSettings.from_env().data_dir / "demo_cursors" / f"{name}.json"
    cursor_file.parent.mkdir(parents=True, exist_ok=True)
    state = {"cursor": cursor_file.read_text() if cursor_file.exists() else None, "file": cursor_file,
             "sensor": sensor, "external": external, "retrains": [], "on_failure_runs": []}
    rows = []
    for period in periods:
        if period == TRAIN:
            manual = dg.RunRequest(tags={TAG_MONITOR: name, TAG_PERIOD: rows[-1]["period"]})  # no evaluation
            state["retrains"].append(_retrain(defs, instance, name, manual))
            continue
        if period.startswith(LABELS_OF):
            row = next(r for r in rows if r["period"] == period.removeprefix(LABELS_OF))
            _land_labels(defs, instance, name, row["period"], row)
            _react(defs, instance, name, state, row, "retrain (labels)")
            continue
        rows.append(_drift_row(defs, instance, name, period))
        _react(defs, instance, name, state, rows[-1], "retrain")
    _materialize(defs, instance, dg.AssetKey([name, DRIFT_TREND]))
    return {"monitor": name, "external": external, "periods": rows, "retrains": state["retrains"],
            "on_failure_runs": state["on_failure_runs"], "late_labels": label_delay(name) is not None,
            "first_prediction_drift": first_failed(rows, "prediction drift"),
            "first_quality_failure": first_failed(rows, "quality"),
            "first_estimate_failure": first_failed(rows, "estimate check"), "seconds": time.monotonic() - started}


def _react(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, state: dict, row: dict,
           column: str) -> None:
    """A tick of the monitor's sensor (its cursor kept in `state` and its file), and what it requests: a retrain
    each (`column` of the row says so), or an external model's on_failure_job run."""
    sensor = state["sensor"]
    with dg.build_sensor_context(instance=instance, cursor=state["cursor"], resources=defs.resources,
                                 sensor_name=sensor.name) as context:
        tick = sensor(context)
    state["cursor"] = tick.cursor
    state["file"].write_text(tick.cursor or "")
    for request in tick.run_requests or []:
        if state["external"]:
            state["on_failure_runs"].append(_on_failure_run(defs, instance, request))
            row[column] = f"{request.job_name} ({request.tags.get(TAG_FAILED_CHECKS, '-')})"
        else:
            state["retrains"].append(_retrain(defs, instance, name, request))
            row[column] = "yes"


def print_summary(summary: dict) -> None:
    import pandas as pd

    name = summary["monitor"]
    print(f"\n=== {name}: drift monitoring ({len(summary['periods'])} periods, {summary['seconds']:.1f} s) ===")
    action = "on_failure_job" if summary["external"] else "retrain"
    table = pd.DataFrame(summary["periods"]).rename(columns={"retrain": action})
    print(table[["period", "drift_share", "drift", "multivariate", "data quality", "prediction drift", "quality",
                 action, "report"]].to_markdown(index=False, floatfmt=".2f"))
    if summary.get("late_labels"):
        print_late_labels(summary)
    if summary["external"]:
        print_external(summary)
        return
    if not summary["retrains"]:
        print("\nNo failed evaluation: no retrain.")
        return
    from drift_platform.core.ml.metrics import METRICS

    models = pd.DataFrame(summary["retrains"])
    m = summary["retrains"][-1]["metric"]
    chosen = "best_alpha" if "best_alpha" in models else "best_params"
    print(f"\n{name}: retrained models (one per period whose drift or model-quality check failed):")
    print(models[["period", "trigger", "model_version", "train_rows", chosen, f"holdout_{m}"]]
          .to_markdown(index=False, floatfmt=".4f"))
    print(f"\n{name}: champion/challenger gate ({METRICS[m].label} on the same recent labelled rows, unseen by "
          "both fits):")
    for column in (f"challenger_{m}", f"champion_{m}"):
        models[column] = [f"{v:.4f}" if pd.notna(v) else "-" for v in models[column]]
    print(models[["period", "model_version", "promoted", f"challenger_{m}", f"champion_{m}", "champion"]]
          .to_markdown(index=False))


def print_late_labels(summary: dict) -> None:
    """A monitor whose labels arrive late: per period the metric estimated when its features landed (CBPE / DLE,
    with its band) and its check, then the realized metric when its labels landed ("pending" before) and
    `no_model_degradation`'s verdict; and how many weeks the estimate was ahead of the labels."""
    import pandas as pd

    name, rows = summary["monitor"], summary["periods"]
    m = _metric_label(rows)
    table = pd.DataFrame(rows)
    for column, missing in (("labels in", "pending"), ("realized", "pending"), ("retrain (labels)", "-")):
        table[column] = table.get(column, pd.Series(dtype=object)).fillna(missing)
    table = table.rename(columns={"estimated": f"estimated {m} [band]", "estimate check": "no_estimated_degradation",
                                  "realized": f"realized {m}", "quality": "no_model_degradation"})
    print(f"\n{name}: labels arrive late; the {m} estimated when the features land, realized when the labels do:")
    print(table[["period", "features in", f"estimated {m} [band]", "no_estimated_degradation", "retrain",
                 "labels in", f"realized {m}", "no_model_degradation", "retrain (labels)"]].to_markdown(index=False))
    print(f"  {lead_text(rows)}")


def _metric_label(rows: list[dict]) -> str:
    """The metric's label as the quality column names it ("log loss" in "FAILED (log loss 0.4 > 0.3)")."""
    import re

    for row in rows:
        found = re.match(r"(?:PASSED|FAILED) \(([A-Za-z0-9 ]+?) [0-9.]+ ", str(row.get("quality", "")))
        if found:
            return found.group(1)
    return "metric"


def lead_text(rows: list[dict]) -> str:
    """"the estimate flagged week X, N weeks before the labels confirmed (week Y's labels, in on D)", from the first
    period whose estimate failed and the first at or after it whose labels failed the quality bound."""
    import pandas as pd

    flagged = next((r for r in rows if str(r.get("estimate check", "")).startswith("FAILED")), None)
    if flagged is None:
        return "the estimate flagged none of these periods"
    confirmed = next((r for r in rows if r["period"] >= flagged["period"] and "labels in" in r
                      and str(r.get("quality", "")).startswith("FAILED")), None)
    if confirmed is None:
        return f"the estimate flagged {flagged['period']} (on {flagged['features in']}); no labels confirmed it yet"
    days = (pd.Timestamp(confirmed["labels in"]) - pd.Timestamp(flagged["features in"])).days
    ahead = f"{days // 7} weeks" if days % 7 == 0 else f"{days} days"
    return (f"the estimate flagged week {flagged['period']} (on {flagged['features in']}), {ahead} before the labels "
            f"confirmed (week {confirmed['period']}'s labels, in on {confirmed['labels in']})")


def print_external(summary: dict) -> None:
    """A model trained elsewhere: when its output first drifted and when its labels first failed the quality
    bound, and the team's on_failure_job runs (nothing is retrained here)."""
    import pandas as pd

    name, drifted, failed = summary["monitor"], summary["first_prediction_drift"], summary["first_quality_failure"]
    print(f"\n{name}: a model trained elsewhere, watched from its logged predictions (no retrain here).")
    print(f"  first period of prediction drift:          {drifted or 'none of these periods'}")
    print(f"  first period the quality check failed:     {failed or 'none of these periods'}")
    if drifted and failed and drifted < failed:
        days = (pd.Timestamp(failed) - pd.Timestamp(drifted)).days
        ahead = f"{days // 7} week(s)" if days % 7 == 0 else f"{days} day(s)"
        print(f"  the output drifted {ahead} before the labels confirmed the damage")
    if not summary["on_failure_runs"]:
        print("\nNo failed evaluation of a check in retrain_on: the on_failure_job was not launched.")
        return
    print(f"\n{name}: on_failure_job runs (one per failed evaluation, tagged with the period and the failed checks):")
    print(pd.DataFrame(summary["on_failure_runs"])[["period", "trigger", "failed_checks", "job", "run"]]
          .to_markdown(index=False))


def main() -> None:
    from drift_platform.definitions import defs

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--monitor", action="append", help="Only this monitor (repeatable); default: all")
    parser.add_argument("--periods", help="Comma-separated partition keys (with a single --monitor)")
    parser.add_argument("--json", action="store_true", help="Print the summaries as JSON too")
    args = parser.parse_args()
    names = args.monitor or monitor_names(defs)
    started = time.monotonic()
    summaries = []
    with dg.DagsterInstance.get() as instance:
        for name in names:
            periods = ([p.strip() for p in args.periods.split(",") if p.strip()] if args.periods
                       else list(DEMO_PERIODS.get(name, ())))
            summaries.append(run_monitor(defs, instance, name, periods))
    for summary in summaries:
        print_summary(summary)
    print(f"\nWarehouse, reports and models under {DeploymentSettings.from_env().data_dir}; "
          "open the UI with `make dev`.")
    print(f"Demo took {time.monotonic() - started:.1f} s for {len(summaries)} monitor(s).")
    if args.json:
        print(json.dumps(summaries, default=str, indent=2))


if __name__ == "__main__":
    main()
