"""The embedded demo: reference, a run of weeks (some drift), the sensor's reaction, the retrained models and the
champion/challenger gate's decision on each.

    python -m drift_platform.demo [--weeks 2011-01-31,2011-07-04,...]

Runs in-process on the instance at $DAGSTER_HOME (the Makefile keeps it in .dagster_home/), so everything it
does shows up in `make dev` afterwards: runs, materializations, check results, the sensor's cursor.
"""

import argparse
import json
import time
from pathlib import Path

import dagster as dg

from drift_platform.assets.ingestion import reference_data
from drift_platform.constants import (
    NO_DATASET_DRIFT_CHECK,
    NO_MODEL_DEGRADATION_CHECK,
    TAG_DRIFTED_WEEK,
    TAG_EVALUATION_ID,
    TAG_TRIGGER,
)
from drift_platform.definitions import defs
from drift_platform.sensors import retrain_on_drift_sensor
from drift_platform.settings import data_dir

# Step-by-step DEBUG events stay in the instance (and the UI); the terminal shows warnings (alerts) and up.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

DEFAULT_WEEKS = (
    "2011-01-31", "2011-02-07", "2011-02-14", "2011-02-21",
    "2011-04-11", "2011-07-04", "2011-07-11", "2011-10-10",
)  # fmt: skip


def _cursor_file() -> Path:
    return data_dir() / "demo_sensor_cursor.json"


def run_demo(weeks: list[str], instance: dg.DagsterInstance) -> dict:
    started = time.monotonic()
    reference = dg.materialize([reference_data], instance=instance, resources=defs.resources, run_config=QUIET)
    assert reference.success
    weekly = defs.resolve_job_def("weekly_drift_job")
    retrain = defs.resolve_job_def("retrain_job")
    cursor_file = _cursor_file()
    cursor_file.parent.mkdir(parents=True, exist_ok=True)
    rows, retrains = [], []
    for week in weeks:
        result = weekly.execute_in_process(
            partition_key=week, instance=instance, raise_on_error=False, run_config=QUIET
        )
        evaluations = {
            e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
        report = result.output_for_node("drift_report") if result.success else None
        drift, quality = evaluations.get(NO_DATASET_DRIFT_CHECK), evaluations.get(NO_MODEL_DEGRADATION_CHECK)
        ratio = quality.metadata.get("rmsle_ratio") if quality else None
        row = {
            "week": week,
            "drift_share": report["share"] if report else None,
            "check": ("PASSED" if drift.passed else "FAILED") if drift else "ERROR",
            # the champion's RMSLE on the week / its holdout RMSLE; "-" while no model is in service
            "quality": (("PASSED" if quality.passed else "FAILED") + (f" ({ratio.value:.2f}x)" if ratio else ""))
            if quality else "-",
            "retrain": "no",
            "report": report["report_html"] if report else "-",
        }
        rows.append(row)

        # A sensor tick, as the daemon would make it before the next week's run.
        cursor = cursor_file.read_text() if cursor_file.exists() else None
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources) as context:
            tick = retrain_on_drift_sensor(context)
        cursor_file.write_text(tick.cursor or "")
        for request in tick.run_requests or []:
            run = retrain.execute_in_process(instance=instance, tags=request.tags, run_config=QUIET)
            meta = run.asset_materializations_for_node("trained_model")[0].metadata
            gate = run.asset_materializations_for_node("champion_model")[0].metadata
            row["retrain"] = "yes"
            retrains.append(
                {
                    "week": request.tags[TAG_DRIFTED_WEEK],
                    "trigger": request.tags[TAG_TRIGGER],
                    "evaluation": request.tags[TAG_EVALUATION_ID],
                    "model_version": meta["model_version"].value,
                    "train_rows": meta["train_rows"].value,
                    "best_alpha": meta["best_alpha"].value,
                    "holdout_rmsle": meta["holdout_rmsle"].value,
                    "promoted": "yes" if gate["promoted"].value else "no",
                    "challenger_rmsle": gate["challenger_rmsle"].value if "challenger_rmsle" in gate else None,
                    "champion_rmsle": gate["champion_rmsle"].value if "champion_rmsle" in gate else None,
                    "eval_weeks": gate["eval_weeks"].value,
                    "champion": gate["champion_version"].value,
                    "reason": gate["reason"].value,
                    "artifact": meta["artifact"].value,
                }
            )
    return {"weeks": rows, "retrains": retrains, "seconds": time.monotonic() - started}


def print_summary(summary: dict) -> None:
    import pandas as pd

    table = pd.DataFrame(summary["weeks"])[["week", "drift_share", "check", "quality", "retrain", "report"]]
    print("\nWeekly drift monitoring (reference 2011-01-01 .. 2011-01-28):")
    print(table.to_markdown(index=False, floatfmt=".2f"))
    if summary["retrains"]:
        print("\nRetrained models (one per week whose drift or model-quality check failed):")
        models = pd.DataFrame(summary["retrains"])
        columns = ["week", "trigger", "model_version", "train_rows", "best_alpha", "holdout_rmsle", "artifact"]
        print(models[columns].to_markdown(index=False, floatfmt=".4f"))
        print("\nChampion/challenger gate (RMSLE on the same recent labelled rows, unseen by both fits):")
        columns = ["week", "model_version", "promoted", "challenger_rmsle", "champion_rmsle", "eval_weeks", "champion"]
        for column in ("challenger_rmsle", "champion_rmsle"):
            models[column] = [f"{v:.4f}" if pd.notna(v) else "-" for v in models[column]]
        print(models[columns].to_markdown(index=False))
    else:
        print("\nNo new failed evaluation: no retrain.")
    print(f"\nWarehouse, reports and models under {data_dir()}; open the UI with `make dev`.")
    print(f"Demo took {summary['seconds']:.1f} s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", default=",".join(DEFAULT_WEEKS), help="Comma-separated Monday dates")
    parser.add_argument("--json", action="store_true", help="Print the summary as JSON too")
    args = parser.parse_args()
    with dg.DagsterInstance.get() as instance:
        summary = run_demo([w.strip() for w in args.weeks.split(",") if w.strip()], instance)
    print_summary(summary)
    if args.json:
        print(json.dumps(summary, default=str, indent=2))
    if not any(r["check"] == "FAILED" for r in summary["weeks"]):
        print("note: no week drifted in this run", flush=True)


if __name__ == "__main__":
    main()
