"""Where the estimate before the labels holds and where it cannot: per week of a shipped classifier's sample, the
champion's log loss ESTIMATED by CBPE from the features (no label needed) against the log loss REALIZED when the
labels land, both judged against the bound `no_model_degradation` uses. docs/late_labels.md quotes its output.

It runs the platform's own core functions, no Dagster: the model is `core.ml.training.train` with the monitor's
`training:` (its defs.yaml) on its history when its first model is trained (the reference window and the weeks up
to the sample's `trained_until` below); the bound is the model's walk-forward baseline
(`walk_forward_baseline`, mean + sigmas x std of the monitor's `quality:`); the realized value and its verdict are
`period_quality`'s; the estimate is `core.ml.estimation.fit_estimator` on the reference window's rows and the
model's probabilities there, then `estimate_metric` per week, as the `predictions` asset makes it.

    .venv/bin/python scripts/estimation_limits.py                       # paylater's weeks, then churn's
    .venv/bin/python scripts/estimation_limits.py --monitor churn
    .venv/bin/python scripts/estimation_limits.py --monitor paylater --seeds 20   # the generator's other seeds

`--seeds N` regenerates the paylater sample with N seeds (the shipped one first) and prints, per seed, the quiet
weeks' false alarms of the estimate and of the labels, the covariate-shift weeks each flags, and the lead time:
weeks from the estimate's first failure (its features' week) to the labels' first confirmation (its week's labels
landing, label_delay later).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
MONITORS = ROOT / "drift_platform" / "defs" / "monitors"
# Per monitor: its spec, the model's training cut (the first model of its demo: the weeks before it), the weeks shown
# and their episodes (as the spec's header names them).
SAMPLES = {
    "paylater": {"spec": "paylater.yaml", "trained_until": "2024-04-29", "show": ("2024-08-26", "2024-10-27"),
                 "episodes": {"covariate shift": ("2024-09-09", "2024-10-20"),
                              "concept drift": ("2025-02-03", "2025-02-16")}},
    "churn": {"spec": "churn.yaml", "trained_until": "2023-03-20", "show": ("2023-02-13", "2023-04-30"),
              "episodes": {"concept drift": ("2023-03-20", "2023-04-02"), "price rise": ("2023-05-01", "2023-05-28")}},
}  # fmt: skip


def monitor_settings(name: str):
    """The monitor's dataset spec and its `training:` and `quality:` settings, read from its defs.yaml."""
    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.settings import LabelsSettings, QualitySettings, TrainingSettings

    attributes = yaml.safe_load((MONITORS / name / "defs.yaml").read_text())["attributes"]
    spec = DatasetSpec.from_yaml(ROOT / "data" / SAMPLES[name]["spec"])
    labels = attributes.get("labels")
    delay = LabelsSettings(**labels).delay if labels else None
    return spec, TrainingSettings(**attributes.get("training", {})), QualitySettings(**attributes.get("quality", {})), delay


def sample_frame(name: str, seed: int | None = None) -> pd.DataFrame:
    """The monitor's rows with their labels: the shipped CSVs (paylater: orders joined with their labels by key), or
    paylater's generator with another seed."""
    if name == "churn":
        return pd.read_csv(ROOT / "data" / "churn_snapshots.csv")
    if seed is not None:
        return paylater_generator().generate(seed)
    orders = pd.read_csv(ROOT / "data" / "paylater_orders.csv")
    labels = pd.read_csv(ROOT / "data" / "paylater_labels.csv")
    return orders.merge(labels.drop(columns="purchased_at"), on="order_id", how="left", validate="one_to_one")


def paylater_generator():
    path = ROOT / "data" / "generate_paylater.py"
    module_spec = importlib.util.spec_from_file_location("_generate_paylater", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    return module


def weekly_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Per monitored week: rows, the positive rate, the estimate with its band, the realized value, the bound and
    both verdicts (see the module docstring)."""
    from drift_platform.core.intake.contract import conform
    from drift_platform.core.ml.estimation import fit_estimator
    from drift_platform.core.ml.training import period_start, train, walk_forward_baseline

    spec, training, quality, _ = monitor_settings(name)
    frame = conform(frame, spec)
    when = frame[spec.datetime_column]
    start, end = spec.reference_window
    # the monitor's history when its first model is trained: the reference window and the weeks after it
    history = frame[(when >= start) & (when < pd.Timestamp(SAMPLES[name]["trained_until"]))]
    result = train(history, spec, training)
    scoring = result.scoring
    baseline = walk_forward_baseline(history, spec, cadence="weekly", model=result.model, scoring=scoring,
                                     max_periods=training.baseline_periods).kept(quality.min_period_rows)
    reference = frame[(when >= start) & (when < end)]
    estimator = fit_estimator(scoring.metric, reference[spec.target].to_numpy(dtype=object),
                              probabilities=scoring.outputs(result.model, reference[spec.features]),
                              classes=scoring.classes, positive=scoring.positive, calibration="auto")
    weeks = period_start(when, "weekly")
    rows = [week_row(result, estimator, baseline, quality, spec, week, part)
            for week, part in frame[when >= pd.Timestamp(spec.first_period)].groupby(weeks)]
    table = pd.DataFrame(rows)
    table["episode"] = [episode_of(name, week) for week in table["week"]]
    return table


def week_row(result, estimator, baseline, quality, spec, week, part) -> dict:
    from drift_platform.core.ml.estimation import estimate_metric
    from drift_platform.core.ml.metrics import worse
    from drift_platform.core.ml.training import period_quality

    scoring = result.scoring
    proba = scoring.outputs(result.model, part[spec.features])
    estimate = estimate_metric(estimator, scoring.metric, probabilities=proba)
    realized = period_quality(part[spec.target], pd.DataFrame(proba), result.holdout_score, quality.max_ratio,
                              baseline=baseline, bound=quality.bound, sigmas=quality.sigmas,
                              min_period_rows=quality.min_period_rows,
                              min_baseline_periods=quality.min_baseline_periods, scoring=scoring)
    return {"week": f"{week:%Y-%m-%d}", "rows": len(part), "positive": float(part[spec.target].mean()),
            "estimated": estimate.value, "lower": estimate.lower, "upper": estimate.upper,
            "realized": realized.value, "bound": realized.bound,
            "estimate_failed": bool(worse(scoring.metric, estimate.value, realized.bound)),
            "labels_failed": bool(realized.degraded)}  # fmt: skip


def episode_of(name: str, week: str) -> str:
    for episode, (first, last) in SAMPLES[name]["episodes"].items():
        if first <= week <= last:
            return episode
    return "quiet"


def seed_summary(table: pd.DataFrame, delay_weeks: int) -> dict:
    """One seed's figures: false alarms in the quiet weeks, the covariate-shift and concept-drift weeks each
    verdict flags, and the lead time of the estimate over the labels."""
    quiet = table[table["episode"] == "quiet"]
    shift = table[table["episode"] == "covariate shift"]
    concept = table[table["episode"] == "concept drift"]
    first_estimate = shift.loc[shift["estimate_failed"], "week"].min()
    first_labels = shift.loc[shift["labels_failed"], "week"].min()
    lead = None
    if isinstance(first_estimate, str) and isinstance(first_labels, str):
        lead = (pd.Timestamp(first_labels) - pd.Timestamp(first_estimate)).days // 7 + delay_weeks
    inside = (quiet["realized"] >= quiet["lower"]) & (quiet["realized"] <= quiet["upper"])
    return {"quiet_weeks": len(quiet), "quiet_realized_in_band": int(inside.sum()),
            "quiet_estimate_alarms": int(quiet["estimate_failed"].sum()),
            "quiet_label_alarms": int(quiet["labels_failed"].sum()),
            "shift_estimate_weeks": int(shift["estimate_failed"].sum()), "shift_label_weeks": int(shift["labels_failed"].sum()),
            "first_estimate": first_estimate, "first_labels": first_labels, "lead_weeks": lead,
            "concept_estimate_weeks": int(concept["estimate_failed"].sum()),
            "concept_label_weeks": int(concept["labels_failed"].sum())}  # fmt: skip


def shown(table: pd.DataFrame, name: str) -> pd.DataFrame:
    first, last = SAMPLES[name]["show"]
    picked = table[((table["week"] >= first) & (table["week"] <= last)) | (table["episode"] != "quiet")]
    return picked.drop_duplicates("week")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitor", choices=sorted(SAMPLES), action="append", help="default: both")
    parser.add_argument("--seeds", type=int, default=0, help="paylater: also this many generator seeds")
    parser.add_argument("--all-weeks", action="store_true", help="print every monitored week")
    args = parser.parse_args()
    for name in args.monitor or sorted(SAMPLES, reverse=True):
        table = weekly_table(name, sample_frame(name))
        print(f"\n=== {name}: estimated vs realized log loss per week (model trained on the weeks before "
              f"{SAMPLES[name]['trained_until']}; bound {table['bound'].iloc[0]:.3f}) ===")
        print((table if args.all_weeks else shown(table, name)).to_markdown(index=False, floatfmt=".3f"))
        if name == "paylater":
            delay = monitor_settings(name)[3]
            print(pd.Series(seed_summary(table, delay.days // 7)).to_string())
    if args.seeds:
        seeds_table(args.seeds)


def seeds_table(n: int) -> None:
    """The paylater generator's first `n` seeds from its default: each seed's figures, then the totals."""
    generator = paylater_generator()
    delay = monitor_settings("paylater")[3].days // 7
    rows = []
    for seed in range(generator.DEFAULT_SEED, generator.DEFAULT_SEED + n):
        rows.append({"seed": seed, **seed_summary(weekly_table("paylater", sample_frame("paylater", seed)), delay)})
        print(rows[-1], flush=True)
    seeds = pd.DataFrame(rows)
    print(seeds.to_markdown(index=False))
    quiet = seeds["quiet_weeks"].sum()
    print(f"quiet weeks: estimate false alarms {seeds['quiet_estimate_alarms'].sum()} of {quiet} "
          f"({seeds['quiet_estimate_alarms'].sum() / quiet:.1%}), labels {seeds['quiet_label_alarms'].sum()} of {quiet}")
    print(f"covariate shift caught by the estimate: {(seeds['shift_estimate_weeks'] > 0).sum()} of {n} seeds; lead time "
          f"median {seeds['lead_weeks'].median()} weeks (range {seeds['lead_weeks'].min()}-{seeds['lead_weeks'].max()})")
    print(f"concept drift: estimate failed in {(seeds['concept_estimate_weeks'] > 0).sum()} of {n} seeds, labels in "
          f"{(seeds['concept_label_weeks'] > 0).sum()}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
