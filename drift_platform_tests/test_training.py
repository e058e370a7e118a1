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
