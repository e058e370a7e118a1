"""Training logic: RMSLE, the chronological split, and a grid search that minimises RMSLE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.ml.training import TrainingSettings, chronological_split, rmsle, train


def test_rmsle_known_values() -> None:
    assert rmsle([0, 0], [0, 0]) == 0.0
    assert rmsle([np.e - 1], [0]) == pytest.approx(1.0)
    assert rmsle([1.0], [-3.0]) == pytest.approx(np.log(2))  # negative predictions count as 0


def test_chronological_split_holds_out_the_latest(spec, source_frame) -> None:
    shuffled = source_frame.sample(frac=1.0, random_state=0)
    train_part, holdout = chronological_split(shuffled, spec, 0.1)
    assert len(holdout) == 73 and len(train_part) == 658
    assert train_part["dteday"].max() < holdout["dteday"].min()


def test_grid_search_picks_the_alpha_with_lowest_cv_rmsle(spec, source_frame) -> None:
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import TimeSeriesSplit, cross_val_score

    from drift_platform.core.ml.training import build_pipeline

    alphas = (0.1, 10.0, 1000.0, 1e6)
    result = train(source_frame, spec, TrainingSettings(alphas=alphas))
    # recompute every alpha's CV RMSLE independently; the search must pick the minimum
    train_part, _ = chronological_split(source_frame, spec, 0.1)
    scores = {
        alpha: -cross_val_score(
            build_pipeline(spec, alpha), train_part[spec.features], train_part[spec.target].astype(float),
            cv=TimeSeriesSplit(3), scoring=make_scorer(rmsle, greater_is_better=False),
        ).mean()
        for alpha in alphas
    }
    assert result.cv_rmsle_by_alpha == pytest.approx(scores)
    assert result.best_alpha == min(scores, key=scores.get)
    assert result.best_alpha != max(scores, key=scores.get)  # the tutorial's scorer picked this one
    assert result.cv_rmsle == pytest.approx(min(scores.values()))
    assert scores[1e6] > scores[result.best_alpha] * 1.5  # a flattened model is clearly worse here


def test_trained_model_predicts_counts_on_the_original_scale(spec, source_frame) -> None:
    result = train(source_frame, spec)
    assert result.train_rows + result.holdout_rows == 731
    assert 0 < result.holdout_rmsle < 0.6 and result.holdout_r2 > 0.3
    predictions = result.model.predict(source_frame[spec.features].tail(30))
    assert predictions.min() > 100 and predictions.max() < 20_000  # counts, not log counts


def test_too_little_history_is_refused(spec, source_frame) -> None:
    with pytest.raises(ValueError, match="training needs at least 9 complete rows; the history has 5"):
        train(source_frame.head(5), spec)


def test_training_is_deterministic(spec, source_frame) -> None:
    a, b = train(source_frame, spec), train(source_frame, spec)
    frame = source_frame[spec.features].tail(10)
    pd.testing.assert_series_equal(pd.Series(a.model.predict(frame)), pd.Series(b.model.predict(frame)))


def test_splits_and_folds_keep_each_timestamp_on_one_side() -> None:
    """Many rows per timestamp: the holdout and every CV fold cut between timestamps, never through one."""
    import numpy as np
    import pandas as pd

    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.ml.training import time_series_folds

    spec = DatasetSpec.from_dict({
        "name": "events", "datetime_column": "ts", "target": "y", "key_columns": ["id"],
        "columns": {"id": "int", "ts": "datetime", "x": "float", "y": "float"}, "numerical_features": ["x"],
        "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03",
    })  # fmt: skip
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 40, 60)  # 60 timestamps with 1..39 rows each
    ts = pd.date_range("2020-01-01", periods=60, freq="h").repeat(sizes)
    history = pd.DataFrame({"id": np.arange(len(ts)), "ts": ts, "x": rng.random(len(ts)), "y": rng.random(len(ts))})
    train_part, holdout = chronological_split(history.sample(frac=1, random_state=0), spec, 0.1)
    assert train_part["ts"].max() < holdout["ts"].min() and len(train_part) + len(holdout) == len(history)
    assert abs(len(holdout) / len(history) - 0.1) < 0.05
    when = train_part["ts"].reset_index(drop=True)
    folds = time_series_folds(when, 3)
    assert len(folds) == 3
    for fit, test in folds:
        assert when[fit].max() < when[test].min()  # every fit row before every test row
        assert not set(when[fit]) & set(when[test])
    assert sorted(np.concatenate([folds[-1][0], folds[-1][1]])) == list(range(len(when)))


# --- the recipe as configuration: estimators, metrics, directions ---------------------------------------------
def test_the_default_estimators_known_parameters_are_sklearns() -> None:
    """The load checks a grid of the default estimators without importing scikit-learn: against these lists."""
    from sklearn.linear_model import LogisticRegression, Ridge

    from drift_platform.core.ml.recipe import KNOWN_PARAMS, LOGISTIC, RIDGE

    assert set(KNOWN_PARAMS[RIDGE]) == set(Ridge().get_params())
    assert set(KNOWN_PARAMS[LOGISTIC]) == set(LogisticRegression().get_params())


def classification_spec(task: str = "binary"):
    from drift_platform.core.intake.dataset import DatasetSpec

    return DatasetSpec.from_dict({
        "name": "events", "datetime_column": "ts", "target": "y", "key_columns": ["id"], "task": task,
        "columns": {"id": "int", "ts": "datetime", "x": "float", "g": "str", "y": "int"},
        "numerical_features": ["x"], "categorical_features": ["g"],
        "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03",
    })  # fmt: skip


def imbalanced_history(rows: int = 600, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = (rng.random(rows) < 1 / (1 + np.exp(-(-2.5 + 1.5 * x)))).astype(int)  # ~10 % positives
    ts = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 40 * 24, rows)), unit="h")
    return pd.DataFrame({"id": np.arange(rows), "ts": ts, "x": x, "g": rng.choice(["a", "b"], rows), "y": y})


def test_a_classifier_is_weighted_balanced_unless_its_grid_says_otherwise() -> None:
    from drift_platform.core.ml.recipe import build_model, recipe_of

    spec = classification_spec()
    history = imbalanced_history()
    result = train(history, spec, TrainingSettings(metric="roc_auc"))
    assert result.model.named_steps["model"].class_weight == "balanced"
    assert result.scoring.classes == (0, 1) and result.scoring.positive == 1
    own = recipe_of(spec, TrainingSettings(param_grid={"C": [1.0], "class_weight": [None]}))
    assert build_model(spec, own).named_steps["model"].class_weight is None
    # balanced weights predict the rare class far more often than its share, unweighted ones less
    weighted = result.model.predict(history[spec.features]).mean()
    plain = train(history, spec, TrainingSettings(metric="roc_auc", param_grid={"C": [1.0], "class_weight": [None]}))
    assert weighted > history["y"].mean() > plain.model.predict(history[spec.features]).mean()
    # scored by the probabilities themselves (log_loss, brier): fitted unweighted, so they stay calibrated
    for metric in ("log_loss", "brier"):
        assert build_model(spec, recipe_of(spec, TrainingSettings(metric=metric))).named_steps["model"].class_weight is None


def test_classifier_folds_are_chronological_and_stratified_where_possible() -> None:
    from drift_platform.core.ml.training import time_series_folds

    history = imbalanced_history(seed=9)
    when, labels = history["ts"], history["y"]
    folds = time_series_folds(when, 3, labels)
    rare = labels.sum()
    for fit, test in folds:
        assert when[fit].max() < when[test].min()  # every fit row before every test row
        assert labels.iloc[test].sum() == pytest.approx(rare / 4, abs=3)  # a quarter of the positives each
    plain = time_series_folds(when, 3)
    assert [len(t) for _, t in plain] != [len(t) for _, t in folds]  # not the equal-timestamp folds
    # a class too rare to spread over the folds: the plain folds
    few = labels.where(labels.index != labels[labels == 1].index[0], 1) * 0
    few.iloc[[5, 300, 500]] = 1
    assert [t.tolist() for _, t in time_series_folds(when, 3, few)] == [t.tolist() for _, t in plain]


def test_gradient_boosting_regressor_by_rmse(spec, source_frame) -> None:
    from sklearn.metrics import root_mean_squared_error

    settings = TrainingSettings(estimator="sklearn.ensemble.HistGradientBoostingRegressor", metric="rmse",
                                param_grid={"max_iter": [20, 50]})
    result = train(source_frame, spec, settings)
    _, holdout = chronological_split(source_frame, spec, 0.1)
    assert result.metric == "rmse" and set(result.best_params) == {"max_iter"}
    assert result.holdout_score == pytest.approx(
        root_mean_squared_error(holdout["cnt"].astype(float), result.model.predict(holdout[spec.features])))
    assert result.model.named_steps["model"].random_state == 0  # seeded


@pytest.mark.parametrize(("metric", "challenger", "champion", "promote"), [
    ("roc_auc", 0.80, 0.75, True),     # higher is better
    ("roc_auc", 0.75, 0.80, False),
    ("roc_auc", 0.755, 0.75, False),   # higher by less than the 1 % margin
    ("log_loss", 0.30, 0.35, True),    # lower is better
    ("log_loss", 0.35, 0.30, False),
])  # fmt: skip
def test_the_gate_follows_the_metric(metric, challenger, champion, promote) -> None:
    from drift_platform.core.ml.training import GateComparison, decide

    comparison = GateComparison(["2024-01-01"], 50, 200, 0, challenger, champion, metric=metric)
    decision = decide(comparison, has_champion=True, min_improvement=0.01)
    assert decision.promote is promote
    assert decision.improvement == pytest.approx(
        (challenger - champion) / champion if metric == "roc_auc" else (champion - challenger) / champion)
    assert ("ROC AUC" if metric == "roc_auc" else "log loss") in decision.reason


def test_the_quality_bound_turns_with_the_metric() -> None:
    """Greater is better (ROC AUC): degraded BELOW mean - sigmas x std, and by the ratio when the shortfall
    1 - AUC exceeds max_ratio x the holdout's; an error (log loss) the other way."""
    from drift_platform.core.ml.training import QualityBaseline, Scoring, period_quality

    baseline = QualityBaseline(tuple(f"2024-01-0{d}" for d in range(1, 7)), (0.80, 0.82, 0.78, 0.81, 0.79, 0.80),
                               (50,) * 6)
    auc = Scoring("roc_auc", (0, 1), 1)
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1, 0, 1])
    good = np.column_stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1])  # ranks every row right: AUC 1
    bad = good[:, ::-1]  # ranks every row wrong: AUC 0
    settings = {"bound": "baseline", "min_period_rows": 5, "min_baseline_periods": 5, "scoring": auc}
    high = period_quality(y, pd.DataFrame(good), 0.8, 2.0, baseline=baseline, **settings)
    low = period_quality(y, pd.DataFrame(bad), 0.8, 2.0, baseline=baseline, **settings)
    limit = np.mean(baseline.errors) - 3 * np.std(baseline.errors, ddof=1)
    assert high.value == 1.0 and not high.degraded and high.bound == pytest.approx(limit)
    assert low.value == 0.0 and low.degraded and "mean 0.8000 - 3 x std" in low.note
    ratio = period_quality(y, pd.DataFrame(bad), 0.8, 2.0, scoring=auc)
    assert ratio.degraded and ratio.bound == pytest.approx(1 - 2.0 * 0.2) and ratio.ratio == pytest.approx(1 / 0.2)
    within = period_quality(y, pd.DataFrame(good), 0.8, 2.0, scoring=auc)
    assert not within.degraded and within.ratio == 0.0
    loss = Scoring("log_loss", (0, 1), 1)
    worse = period_quality(y, pd.DataFrame(bad), 0.3, 2.0, scoring=loss)
    assert worse.degraded and worse.bound == pytest.approx(0.6) and worse.value > 0.6
    one_class = period_quality(np.zeros(10), pd.DataFrame(good), 0.8, 2.0, scoring=auc)
    assert not one_class.judged and not one_class.degraded and "cannot define ROC AUC" in one_class.note
