"""Classifiers by YAML alone: a binary and a multiclass monitor, each with a linear and a gradient-boosting
estimator, through drift, training, the gate, predictions and the model-quality check; every metric value the
platform reports equals scikit-learn's function on the same rows and the stored model.

The data are the shipped classification samples (data/churn*.csv, data/triage*.csv, written by their seeded
generators) when they are there; until then a seeded generator in this file writes a sample of the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drift_platform.core.intake.dataset import DatasetSpec, proba_name
from drift_platform.core.ml.metrics import METRICS, score
from drift_platform.core.ml.model_registry import champion_version, load_model
from drift_platform.core.ml.predictions import predictions_layout
from drift_platform.core.ml.training import chronological_split, complete_rows
from drift_platform.definitions import build_definitions
from drift_platform_tests.helpers import check_evaluations

DATA = Path(__file__).resolve().parents[1] / "data"
FIRST = pd.Timestamp("2024-01-01")
REFERENCE_DAYS, MONITORED_DAYS, ROWS_PER_DAY = 21, 10, 60


def generated_sample(task: str, seed: int = 20) -> pd.DataFrame:
    """Events with an id, a time, two numbers and a segment; the label depends on them (binary: about 12 %
    'yes'; multiclass: three triage levels). From day 24 on the label's relation to x1 flips (concept drift)."""
    rng = np.random.default_rng(seed)
    days = REFERENCE_DAYS + MONITORED_DAYS
    n = days * ROWS_PER_DAY
    day = np.repeat(np.arange(days), ROWS_PER_DAY)
    ts = FIRST + pd.to_timedelta(day, unit="D") + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    segment = rng.choice(["web", "store", "phone"], n, p=[0.5, 0.3, 0.2])
    flip = np.where(day >= 24, -1.0, 1.0)
    logit = -2.3 + 1.6 * flip * x1 + 0.8 * x2 + (segment == "phone") * 0.7
    if task == "binary":
        label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    else:
        level = logit + 2.3 + rng.logistic(size=n) * 0.6
        label = np.select([level < -0.5, level < 1.0], ["low", "mid"], "high")
    frame = pd.DataFrame({"event_id": np.arange(n), "ts": ts, "x1": x1.round(4), "x2": x2.round(4),
                          "segment": segment, "label": label})
    return frame.sort_values("ts").reset_index(drop=True)


SPEC = """\
name: {name}
datetime_column: ts
target: label
task: {task}
key_columns: [event_id]
columns: {{event_id: int, ts: datetime, x1: float, x2: float, segment: str, label: str}}
numerical_features: [x1, x2]
categorical_features: [segment]
reference_window: {{start: "2024-01-01", end: "2024-01-21"}}
first_period: "2024-01-22"
"""
DEFS = """\
type: drift_platform.DriftMonitor
attributes:
  spec: {spec}
  source: {source}
  cadence: {cadence}
  multivariate: {{enabled: false}}
  data_quality: {{enabled: false}}
  training:
    metric: {metric}
{estimator}
  gate: {{eval_periods: 2, min_eval_rows: 20, min_fit_rows: 100}}
  quality: {{min_baseline_periods: 3}}
  retry: {{delay_seconds: 0.5}}
"""
HGB = ("    estimator: sklearn.ensemble.HistGradientBoostingClassifier\n"
       "    param_grid: {max_iter: [20], learning_rate: [0.1, 0.3], max_leaf_nodes: [15]}\n"
       "    baseline_periods: 6")
CASES = {
    "binary-linear": ("binary", "roc_auc", ""),
    "binary-boosting": ("binary", "log_loss", HGB),
    "multiclass-linear": ("multiclass", "f1", ""),
    "multiclass-boosting": ("multiclass", "brier", HGB),
}


@dataclass(frozen=True)
class Sample:
    """A classification sample: its spec and source, cadence, the periods run before the first training and the
    period judged after it."""

    spec: Path
    source: Path
    cadence: str
    before: tuple[str, ...]
    judged: str


def shipped(task: str) -> Sample | None:
    """The shipped sample of the task (data/churn*, data/triage*), when its spec and its CSV are there."""
    stem = "churn" if task == "binary" else "triage"
    specs, sources = sorted(DATA.glob(f"{stem}*.yaml")), sorted(DATA.glob(f"{stem}*.csv"))
    if not specs or not sources:
        return None
    spec = DatasetSpec.from_yaml(specs[0])
    weekly = spec.first_period.weekday() == 0 and (spec.reference_dates.end - spec.reference_dates.start).days > 27
    step = pd.Timedelta(days=7 if weekly else 1)
    first = pd.Timestamp(spec.first_period)
    periods = [f"{first + i * step:%Y-%m-%d}" for i in range(3)]
    return Sample(specs[0], sources[0], "weekly" if weekly else "daily", tuple(periods[:2]), periods[2])


def sample_for(task: str, folder: Path) -> Sample:
    """The shipped sample of the task, else one this file's generator writes into `folder`."""
    found = shipped(task)
    if found is not None:
        return found
    source, spec = folder / f"{task}.csv", folder / "spec.yaml"
    generated_sample(task).to_csv(source, index=False)
    spec.write_text(SPEC.format(name=f"generated_{task}", task=task))
    return Sample(spec, source, "daily", ("2024-01-22", "2024-01-23"), "2024-01-29")


def write_monitor(tmp_path: Path, case: str) -> tuple[dg.Definitions, str, DatasetSpec, Sample]:
    """A defs folder holding one monitor of the case: a defs.yaml naming the sample's spec and source."""
    task, metric, estimator = CASES[case]
    name = case.replace("-", "_")
    folder = tmp_path / "defs" / "monitors" / name
    folder.mkdir(parents=True)
    sample = sample_for(task, folder)
    (folder / "defs.yaml").write_text(DEFS.format(spec=sample.spec, source=sample.source, cadence=sample.cadence,
                                                  metric=metric, estimator=estimator))
    defs = build_definitions(defs_folder=tmp_path / "defs", env={"DRIFT_DATA_DIR": str(tmp_path / "data")})
    return defs, name, DatasetSpec.from_yaml(sample.spec), sample


def sklearn_value(metric: str, y, model, features, classes: list, positive) -> float:
    """The metric by scikit-learn's own function, called here on the model's outputs (not the platform's)."""
    from sklearn import metrics as m

    proba = pd.DataFrame(model.predict_proba(features), columns=list(model.classes_))[classes].to_numpy()
    y = np.asarray(y, dtype=object if isinstance(classes[0], str) else int)
    if metric == "roc_auc":
        return m.roc_auc_score(y == positive, proba[:, classes.index(positive)]) if len(classes) == 2 else (
            m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    if metric == "log_loss":
        return m.log_loss(y, proba, labels=classes)
    if metric == "brier":
        return m.brier_score_loss(y, proba, labels=classes) if len(classes) > 2 else (
            m.brier_score_loss(y == positive, proba[:, classes.index(positive)]))
    predicted = np.asarray(model.predict(features), dtype=object)
    if metric == "f1":
        return m.f1_score(y, predicted, average="macro") if len(classes) > 2 else (
            m.f1_score(y, predicted, pos_label=positive))
    return m.accuracy_score(y, predicted)


def materializations(result, op: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(op)[0].metadata.items()}


def expected_classes(spec: DatasetSpec, source: Path) -> tuple[list, object]:
    """The classes (the spec's, else the reference window's labels, sorted) and the positive class of a binary
    task (the spec's, else the larger), read here from the source."""
    if spec.known_classes is not None:
        classes = spec.known_classes
    else:
        reference = period_rows(spec, source, *spec.reference_window)
        classes = sorted(reference[spec.target].unique().tolist())
    positive = (spec.label(spec.positive_class) if spec.positive_class is not None else classes[-1]) \
        if len(classes) == 2 else None
    return classes, positive


def period_rows(spec: DatasetSpec, source: Path, start, end) -> pd.DataFrame:
    from drift_platform.core.intake.source import load_window

    frame, _ = load_window(str(source), spec, pd.Timestamp(start), pd.Timestamp(end))
    return frame


def start_monitor(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, periods) -> tuple:
    """The reference, then the drift job of each period; returns the drift and the retrain jobs."""
    key = dg.AssetKey([name, "reference_data"])
    assert dg.materialize([defs.resolve_assets_def(key)], instance=instance, selection=[key]).success
    drift_job = defs.resolve_job_def(f"{name}_drift_job")
    for period in periods:
        assert drift_job.execute_in_process(partition_key=period, instance=instance).success
    return drift_job, defs.resolve_job_def(f"{name}_retrain_job")


@pytest.mark.parametrize("case", list(CASES))
def test_a_classifier_monitor_by_yaml_alone(tmp_path: Path, case: str) -> None:
    task, metric, _ = CASES[case]
    defs, name, spec, sample = write_monitor(tmp_path, case)
    store, warehouse = defs.resources["store"].scoped(name), defs.resources["warehouse"]
    with dg.instance_for_test() as instance:
        drift_job, retrain_job = start_monitor(defs, instance, name, sample.before)
        first = retrain_job.execute_in_process(instance=instance)
        trained = materializations(first, f"{name}__trained_model")
        assert trained["metric"] == metric and materializations(first, f"{name}__champion_model")["promoted"]
        # the holdout value: scikit-learn on the same holdout rows and the stored model
        model, manifest = load_model(store, trained["model_version"])
        classes, positive = expected_classes(spec, sample.source)
        assert manifest["classes"] == classes and manifest.get("positive_class") == positive
        history = warehouse.read(f"{name}_history", spec.layout)
        _, holdout = chronological_split(complete_rows(history, spec), spec, 0.1)
        expected = sklearn_value(metric, holdout[spec.target], model, holdout[spec.features], classes, positive)
        assert trained[f"holdout_{metric}"] == pytest.approx(expected, rel=1e-9)
        assert manifest["metrics"][f"holdout_{metric}"] == pytest.approx(expected, rel=1e-9)
        # predictions and the quality check of a later period, by the champion
        period = drift_job.execute_in_process(partition_key=sample.judged, instance=instance)
        [quality] = check_evaluations(period, "no_model_degradation")
        predicted = materializations(period, f"{name}__predictions")
        trend_key = dg.AssetKey([name, "drift_trend"])
        trend = dg.materialize([defs.resolve_assets_def(trend_key)], instance=instance, selection=[trend_key])
        trend = materializations(trend, f"{name}__drift_trend")
    assert trend[f"latest_{metric}"] == predicted[metric]  # the trend names the metric: its value per period
    assert f"| {sample.judged} | " in trend["model_quality"] and METRICS[metric].label in trend["model_quality"]
    start = pd.Timestamp(sample.judged)
    end = start + pd.Timedelta(days=7 if sample.cadence == "weekly" else 1)
    rows = period_rows(spec, sample.source, start, end)
    stored = warehouse.read(f"{name}_predictions", predictions_layout(spec, classes), start, end)
    assert len(stored) == len(rows) > 0
    assert np.allclose(stored[[proba_name(c) for c in classes]].sum(axis=1), 1.0)
    joined = rows.merge(stored[[*spec.key, f"predicted_{spec.target}"]], on=spec.key)
    assert (joined[f"predicted_{spec.target}"].to_numpy() == model.predict(joined[spec.features])).all()
    expected = sklearn_value(metric, joined[spec.target], model, joined[spec.features], classes, positive)
    meta = {k: v.value for k, v in quality.metadata.items()}
    assert meta["metric"] == metric and meta[metric] == pytest.approx(expected, rel=1e-9)
    assert predicted[metric] == pytest.approx(expected, rel=1e-9)
    assert meta["bound_direction"] == ("below" if METRICS[metric].greater_is_better else "above")
    assert f"bound_{metric}" in meta and meta["judged"] is True
    assert METRICS[metric].label in quality.description


def test_the_gate_compares_classifiers_by_their_metric(tmp_path: Path) -> None:
    """A second training faces the champion: both scored by ROC AUC on the same rows, and the champion's value
    equals scikit-learn's on those rows with the stored champion; higher is better."""
    defs, name, spec, sample = write_monitor(tmp_path, "binary-linear")
    store = defs.resources["store"].scoped(name)
    with dg.instance_for_test() as instance:
        drift_job, retrain_job = start_monitor(defs, instance, name, sample.before[:1])
        retrain_job.execute_in_process(instance=instance)
        champion = champion_version(store)["version"]
        assert drift_job.execute_in_process(partition_key=sample.before[1], instance=instance).success
        assert drift_job.execute_in_process(partition_key=sample.judged, instance=instance).success
        second = materializations(retrain_job.execute_in_process(instance=instance), f"{name}__champion_model")
    assert second["metric"] == "roc_auc" and "challenger_roc_auc" in second and "champion_roc_auc" in second
    model, manifest = load_model(store, champion)
    classes, positive = expected_classes(spec, sample.source)
    history = defs.resources["warehouse"].read(f"{name}_history", spec.layout)
    rows = complete_rows(history, spec)
    when = rows[spec.datetime_column]
    rows = rows[(when >= pd.Timestamp(sample.before[1])) & (when > pd.Timestamp(manifest["train_end"]))]
    expected = sklearn_value("roc_auc", rows[spec.target], model, rows[spec.features], classes, positive)
    assert second["champion_roc_auc"] == pytest.approx(expected, rel=1e-9)
    better = second["challenger_roc_auc"] >= second["champion_roc_auc"] * 1.01
    assert second["promoted"] is better  # higher is better: promoted only when higher by the 1 % margin
    assert "ROC AUC" in second["reason"]


def test_platform_metrics_equal_sklearns() -> None:
    """`score` against scikit-learn's functions on fixed rows, for every metric."""
    from sklearn import metrics as m

    rng = np.random.default_rng(1)
    y = rng.choice(["a", "b", "c"], 200)
    proba = rng.dirichlet([1, 1, 1], 200)
    predicted = np.array(["a", "b", "c"])[proba.argmax(axis=1)]
    classes = ["a", "b", "c"]
    assert score("log_loss", y, proba=proba, classes=classes) == pytest.approx(m.log_loss(y, proba, labels=classes))
    assert score("roc_auc", y, proba=proba, classes=classes) == pytest.approx(
        m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    assert score("f1", y, predicted, classes=classes) == pytest.approx(m.f1_score(y, predicted, average="macro"))
    assert score("accuracy", y, predicted, classes=classes) == pytest.approx(m.accuracy_score(y, predicted))
    assert score("brier", y, proba=proba, classes=classes) == pytest.approx(
        m.brier_score_loss(y, proba, labels=classes))
    yb, pb = y == "a", proba[:, 0]
    two = np.column_stack([1 - pb, pb])
    assert score("roc_auc", yb, proba=two, classes=[False, True], positive=True) == pytest.approx(
        m.roc_auc_score(yb, pb))
    assert score("brier", yb, proba=two, classes=[False, True], positive=True) == pytest.approx(
        m.brier_score_loss(yb, pb))
    values, guesses = rng.gamma(2.0, 10.0, 50), rng.gamma(2.0, 10.0, 50)
    assert score("rmse", values, guesses) == pytest.approx(m.root_mean_squared_error(values, guesses))
    assert score("mae", values, guesses) == pytest.approx(m.mean_absolute_error(values, guesses))
    assert score("rmsle", values, guesses) == pytest.approx(m.root_mean_squared_log_error(values, guesses))


def test_a_label_the_reference_never_shows_keeps_the_period_out_of_the_history(tmp_path: Path) -> None:
    """A spec without `classes` takes them from the reference's labels: a period with another label fails its
    history step, naming the period and the rows, and the history keeps only the reference."""
    from drift_platform_tests.helpers import step_failure_message

    folder = tmp_path / "defs" / "monitors" / "tickets"
    folder.mkdir(parents=True)
    frame = generated_sample("multiclass")
    day = (frame["ts"] >= "2024-01-22") & (frame["ts"] < "2024-01-23")
    frame.loc[frame.index[day][[3, 7]], "label"] = "urgent"
    frame.to_csv(tmp_path / "tickets.csv", index=False)
    (folder / "spec.yaml").write_text(SPEC.format(name="tickets", task="multiclass"))
    (folder / "defs.yaml").write_text(DEFS.format(spec="spec.yaml", source=tmp_path / "tickets.csv",
                                                  cadence="daily", metric="log_loss", estimator=""))
    defs = build_definitions(defs_folder=tmp_path / "defs", env={"DRIFT_DATA_DIR": str(tmp_path / "data")})
    spec = DatasetSpec.from_yaml(folder / "spec.yaml")
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("tickets_drift_job").execute_in_process(
            partition_key="2024-01-22", instance=instance, raise_on_error=False)
    assert not result.success
    message = step_failure_message(result)
    assert "period 2024-01-22" in message and "label(s) ['urgent'] outside the known classes ['high', 'low', 'mid']" \
        in message and "2 row(s)" in message and "the reference's labels" in message, message
    warehouse = defs.resources["warehouse"]  # the history is written in one transaction with the period: none
    assert not warehouse.table_exists("tickets_history") or warehouse.read("tickets_history", spec.layout)[
        "ts"].max() < pd.Timestamp("2024-01-22")
