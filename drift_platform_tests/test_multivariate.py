"""The domain-classifier drift test on DataFrames built in the test: a correlation that flips under unchanged
marginals is seen by it and not by the per-column tests; a quiet period is not flagged, also where rows close in
time are alike (its null draws contiguous blocks); errors name the problem."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.stats.drift import compute_drift
from drift_platform.core.stats.multivariate import (
    MultivariateDrift,
    MultivariateSettings,
    block_null_aucs,
    even_periods,
    multivariate_drift,
    null_aucs,
    null_sizes,
    random_draw_null_aucs,
    reference_periods,
    reference_times,
    whole_periods,
)

NUMERICAL = ["x1", "x2", "noise"]
CATEGORICAL = ["weather"]
SPEC = DatasetSpec.from_dict(
    {
        "name": "synthetic",
        "datetime_column": "ts",
        "target": "y",
        "reference_window": {"start": "2020-01-01", "end": "2020-01-28"},
        "first_period": "2020-02-03",
        "columns": {
            "ts": "datetime",
            "y": "float",
            "x1": "float",
            "x2": "float",
            "noise": "float",
            "weather": "int",
        },
        "numerical_features": NUMERICAL,
        "categorical_features": CATEGORICAL,
    }
)
# 39 draws: the smallest p-value is 1/40 = 0.025 < alpha; fewer draws than the default keep the tests quick.
FAST = MultivariateSettings(null_draws=39)


def frame(rng: np.random.Generator, n: int, correlation: float, weather=(0.6, 0.3, 0.1)) -> pd.DataFrame:
    """x1, x2 standard normal with the given correlation; noise standard normal; weather 1-3. Rows drawn
    independently, without a time column (so the null's blocks slide over the rows: no whole periods)."""
    x1, z = rng.standard_normal(n), rng.standard_normal(n)
    return pd.DataFrame(
        {
            "y": rng.gamma(2.0, 10.0, n),
            "x1": x1,
            "x2": correlation * x1 + np.sqrt(1 - correlation**2) * z,
            "noise": rng.standard_normal(n),
            "weather": rng.choice([1, 2, 3], n, p=list(weather)),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return frame(np.random.default_rng(1), 400, 0.9)


@pytest.fixture(scope="module")
def flipped() -> pd.DataFrame:
    return frame(np.random.default_rng(2), 300, -0.9)


@pytest.fixture(scope="module")
def quiet() -> pd.DataFrame:
    return frame(np.random.default_rng(3), 300, 0.9)


@pytest.fixture(scope="module")
def null_300(reference) -> np.ndarray:
    return null_aucs(reference, 300, NUMERICAL, CATEGORICAL, FAST)


def test_flipped_correlation_is_multivariate_drift_but_not_dataset_drift(
    reference, flipped, null_300
) -> None:
    assert flipped["x1"].corr(flipped["x2"]) < -0.85 < 0.85 < reference["x1"].corr(reference["x2"])
    per_column = compute_drift(reference, flipped, SPEC, with_report=False)
    assert per_column.dataset_drift is False

    result = multivariate_drift(reference, flipped, NUMERICAL, CATEGORICAL, FAST, null=null_300)
    assert result.drifted is True
    assert result.auc > 0.9 > result.threshold
    assert result.p_value == pytest.approx(1 / 40)  # no null AUC reaches the observed one
    assert {name for name, _ in result.top_columns[:2]} == {"x1", "x2"}
    assert result.top_columns[0][1] > 2 * dict(result.top_columns)["noise"]
    assert (result.reference_rows, result.current_rows, result.rows_used) == (400, 300, (400, 300))


def test_quiet_period_is_not_flagged(reference, quiet, null_300) -> None:
    result = multivariate_drift(reference, quiet, NUMERICAL, CATEGORICAL, FAST, null=null_300)
    assert result.drifted is False
    assert result.auc <= result.threshold and result.p_value > FAST.alpha
    assert 0.4 < result.auc < 0.6


def test_null_threshold_and_p_value(reference, quiet, null_300) -> None:
    assert null_300.shape == (39,) and np.all((null_300 > 0.3) & (null_300 < 0.7))
    result = multivariate_drift(reference, quiet, NUMERICAL, CATEGORICAL, FAST, null=null_300)
    assert result.null_aucs == tuple(null_300)
    assert result.threshold == pytest.approx(np.quantile(null_300, 0.95))
    assert result.p_value == pytest.approx((1 + np.sum(null_300 >= result.auc)) / 40)
    drawn = (
        "the larger, quantile by quantile, of contiguous blocks of 200 reference rows in row order at 39 seeded "
        "start(s) of 201, vs the other 200, and of 200 rows drawn at random vs the rest"
    )
    assert f"39 AUCs of {drawn}" in result.method and result.null_method == drawn  # blocks: half of 400
    assert result.summary()["null_method"] == drawn
    # Computed inside when not given: the same numbers.
    assert multivariate_drift(reference, quiet, NUMERICAL, CATEGORICAL, FAST) == result


def test_same_seed_same_result_other_seed_other_null(reference, flipped) -> None:
    small = reference.iloc[:60], flipped.iloc[:20]
    first = multivariate_drift(*small, NUMERICAL, CATEGORICAL, FAST)
    again = multivariate_drift(*small, NUMERICAL, CATEGORICAL, FAST)
    assert first == again
    other = null_aucs(small[0], 20, NUMERICAL, CATEGORICAL, FAST.model_copy(update={"seed": 1}))
    assert tuple(other) != first.null_aucs


def test_shifted_category_share_points_at_the_category(reference) -> None:
    current = frame(np.random.default_rng(4), 300, 0.9, weather=(0.2, 0.3, 0.5))
    result = multivariate_drift(reference, current, NUMERICAL, CATEGORICAL, FAST)
    assert result.drifted is True
    assert result.top_columns[0][0] == "weather"


def test_summary_is_plain_json(reference, flipped, null_300) -> None:
    summary = multivariate_drift(reference, flipped, NUMERICAL, CATEGORICAL, FAST, null=null_300).summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["drifted"] is True and summary["null_draws"] == 39
    assert set(summary["top_columns"]) == {"x1", "x2", "noise", "weather"}


def test_large_sides_are_subsampled_and_say_so(reference, flipped) -> None:
    settings = MultivariateSettings(null_draws=19, max_rows_per_side=50)
    result = multivariate_drift(reference, flipped, NUMERICAL, CATEGORICAL, settings)
    assert result.rows_used == (50, 50) and (result.reference_rows, result.current_rows) == (400, 300)
    assert "subsampled (seed 0): reference 400 -> 50 rows, current 300 -> 50 rows" in result.method
    assert (
        "contiguous blocks of 200 reference rows in row order (subsampled to 50) at 19 seeded start(s) of 201, "
        "vs the other 200 (subsampled to 50)" in result.method
    )
    assert result.drifted is True  # 50 rows a side are plenty for a flipped 0.9 correlation


def test_missing_values_are_imputed_and_their_rise_is_seen(reference) -> None:
    rng = np.random.default_rng(5)
    holes = reference.copy()
    holes.loc[rng.choice(400, 20, replace=False), "x1"] = np.nan
    holes["weather"] = holes["weather"].astype("Int64")
    holes.loc[rng.choice(400, 20, replace=False), "weather"] = pd.NA
    current = frame(rng, 200, 0.9)
    current.loc[:99, "x1"] = np.nan  # half the rows lose x1
    result = multivariate_drift(holes, current, NUMERICAL, CATEGORICAL, FAST)
    assert np.isfinite(result.auc) and result.drifted is True
    assert result.top_columns[0][0] == "x1"
    assert "missing-value indicator" in result.method


def test_many_numerical_columns_fall_back_to_trees() -> None:
    rng = np.random.default_rng(6)
    columns = [f"n{i}" for i in range(31)]
    reference = pd.DataFrame(rng.standard_normal((60, 31)), columns=columns)
    current = pd.DataFrame(rng.standard_normal((30, 31)), columns=columns).assign(n7=lambda f: f["n7"] + 4.0)
    settings = MultivariateSettings(null_draws=19, folds=2)
    result = multivariate_drift(reference, current, columns, [], settings)
    assert result.method.startswith("gradient-boosted trees")
    assert result.drifted is True and result.top_columns[0][0] == "n7"


@pytest.mark.parametrize(
    ("numerical", "categorical", "reference_rows", "current_rows", "message"),
    [
        (["x1", "absent"], ["weather"], 400, 300, r"current data lacks monitored column\(s\) \['absent'\]"),
        ([], [], 400, 300, "no monitored columns"),
        (["x1"], ["x1"], 400, 300, r"both numerical and categorical: \['x1'\]"),
        (["x1"], ["weather"], 400, 1, "current data has 1 row"),
        (["x1"], ["weather"], 1, 300, "reference data has 1 row"),
        (["x1"], ["weather"], 3, 300, "the null needs at least 4"),
    ],
)
def test_errors_name_the_problem(
    reference, flipped, numerical, categorical, reference_rows, current_rows, message
) -> None:
    ref = reference.iloc[:reference_rows]
    cur = flipped.iloc[:current_rows]
    if "absent" in numerical:
        ref = ref.assign(absent=0.0)
    with pytest.raises(ValueError, match=message):
        multivariate_drift(ref, cur, numerical, categorical, FAST)


def test_other_errors(reference, flipped) -> None:
    with pytest.raises(ValueError, match="'weather' in the reference data is not numeric"):
        multivariate_drift(reference.assign(weather="a"), flipped, ["weather"], [], FAST)
    with pytest.raises(ValueError, match=r"column\(s\) \['x1'\] have no values in the reference"):
        multivariate_drift(reference.assign(x1=np.nan), flipped, ["x1"], [], FAST)
    with pytest.raises(ValueError, match="null must be a non-empty 1-d array"):
        multivariate_drift(reference, flipped, NUMERICAL, CATEGORICAL, FAST, null=np.array([]))
    with pytest.raises(ValueError, match="current_rows is 1"):
        null_aucs(reference, 1, NUMERICAL, CATEGORICAL, FAST)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alpha": 0.0}, "alpha must be in"),
        ({"null_draws": 10}, "null_draws must be at least 19 for alpha 0.05"),
        ({"folds": 1}, "folds must be at least 2"),
        ({"max_rows_per_side": 5}, "max_rows_per_side must be at least 10"),
        ({"severity": "INFO"}, "severity"),
        ({"thresold": 0.7}, "thresold"),
    ],
)
def test_settings_are_validated(changes, message) -> None:
    with pytest.raises(ValidationError, match=message):
        MultivariateSettings(**changes)


def test_settings_defaults_and_frozen() -> None:
    settings = MultivariateSettings()
    assert (
        settings.enabled,
        settings.alpha,
        settings.null_draws,
        settings.folds,
        settings.max_rows_per_side,
        settings.seed,
        settings.severity,
    ) == (True, 0.05, 100, 5, 5000, 0, "WARN")
    with pytest.raises(ValidationError):
        settings.alpha = 0.1  # type: ignore[misc]


def test_bike_sample_march_week_against_january() -> None:
    """The sample itself: the January reference window against a warm March week, and a quiet late-January one.
    At 28 daily rows the check has no power left: winter weather lasts for days, so January's own 4 weeks are
    told from the other 21 days with AUCs that spread widely, and the Student-t predictive bound of a fifth week
    (3 df) passes 1: the null's 0.95 quantile is an AUC of 1 and no week can exceed it. The March week is as
    separable as a week can be (AUC 1) and is not flagged; the former null of random draws flagged it, and half
    the quiet days of a grid too (see test_quiet_contiguous_period_of_autocorrelated_rows_is_rarely_flagged)."""
    from pathlib import Path

    day = pd.read_csv(
        Path(__file__).resolve().parents[1] / "data" / "bike_sharing_day.csv", parse_dates=["dteday"]
    )
    numerical, categorical = ["temp", "atemp", "hum", "windspeed"], ["weathersit"]
    window = day[day["dteday"] <= "2011-01-28"]
    null = null_aucs(window, 7, numerical, categorical, FAST)
    march = multivariate_drift(
        window,
        day[day["dteday"].between("2011-03-05", "2011-03-11")],
        numerical,
        categorical,
        FAST,
        null=null,
    )
    assert isinstance(march, MultivariateDrift) and march.auc == 1.0
    assert march.threshold == 1.0 and march.drifted is False
    assert march.p_value == pytest.approx((1 + np.sum(null >= 1.0)) / 40)
    assert "Student-t predictive distribution (3 df) of the AUCs of the reference's 4 whole periods" in march.method
    assert {name for name, _ in march.top_columns[:2]} & {"temp", "atemp"}
    february = multivariate_drift(
        window,
        day[day["dteday"].between("2011-01-29", "2011-02-04")],
        numerical,
        categorical,
        FAST,
        null=null,
    )
    assert february.drifted is False


# --- autocorrelated rows: the null of contiguous blocks ------------------------------------------------------------
def autocorrelated_days(seed: int, days: int, flipped_day: int | None = None) -> pd.DataFrame:
    """Hourly rows in time order, like a grid's weather: x1 a daily cycle plus an AR(1) deviation (0.97 an hour,
    so a day's weather lasts into the next and the days differ from each other) plus noise; x2 half the cycle
    plus 0.97 x the same deviation (-0.97 on `flipped_day`: a correlation that flips, marginals kept); hum its
    own AR(1) plus noise."""
    rng = np.random.default_rng(seed)
    n = days * 24
    cycle = np.sin(2 * np.pi * (np.arange(n) % 24) / 24)

    def ar1() -> np.ndarray:
        steps = rng.standard_normal(n) * np.sqrt(1 - 0.97**2)
        values = np.empty(n)
        values[0] = rng.standard_normal()
        for t in range(1, n):
            values[t] = 0.97 * values[t - 1] + steps[t]
        return values

    deviation = ar1() + 0.5 * rng.standard_normal(n)
    rho = np.full(n, 0.97)
    if flipped_day is not None:
        rho[flipped_day * 24 : (flipped_day + 1) * 24] = -0.97
    return pd.DataFrame(
        {
            "x1": cycle + deviation,
            "x2": 0.5 * cycle + rho * deviation + np.sqrt(1 - 0.97**2) * 0.5 * rng.standard_normal(n),
            "hum": ar1() + 0.5 * rng.standard_normal(n),
        }
    )


@pytest.fixture(scope="module")
def days_left_out() -> list[tuple[bool, bool, bool]]:
    """12 seeded 11-day series; in each, one day (contiguous, 24 rows) is the period and the other 10 days in
    time order the reference, as a real period is. Per series: (quiet day flagged with the null, the larger of
    blocks and random draws; the same with the former null of random draws alone; the day with its correlation
    flipped flagged with the null)."""
    settings = MultivariateSettings(null_draws=19, folds=3)  # 19: the least for alpha 0.05; quick
    columns = ["x1", "x2", "hum"]
    outcomes = []
    for seed in range(12):
        day = 1 + seed % 9
        quiet, flipped = autocorrelated_days(100 + seed, 11), autocorrelated_days(100 + seed, 11, day)
        inside = np.arange(len(quiet)) // 24 == day
        reference = quiet[~inside].reset_index(drop=True)
        null = null_aucs(reference, 24, columns, [], settings)
        random = random_draw_null_aucs(reference, 24, columns, [], settings)
        assert np.all(null >= np.sort(random)) and np.all(null >= np.sort(block_null_aucs(reference, 24, columns, [],
                                                                                            settings)))
        outcomes.append(
            (
                multivariate_drift(reference, quiet[inside], columns, [], settings, null=null).drifted,
                multivariate_drift(reference, quiet[inside], columns, [], settings, null=random).drifted,
                multivariate_drift(reference, flipped[inside], columns, [], settings, null=null).drifted,
            )
        )
    return outcomes


def test_quiet_contiguous_period_of_autocorrelated_rows_is_rarely_flagged(days_left_out) -> None:
    """alpha is 0.05: 12 quiet days give 0.6 alarms on average, 4 or more with probability 0.2 %. The former
    null (chunks drawn at random, as if rows were independent) flags most of them: a day's rows are alike, so
    a real day is far easier to tell from the rest than a random chunk is."""
    blocks, random, _ = zip(*days_left_out, strict=True)
    assert sum(blocks) <= 3
    assert sum(random) >= 8


def test_flipped_correlation_is_still_caught_with_blocks(days_left_out) -> None:
    _, _, flipped = zip(*days_left_out, strict=True)
    assert sum(flipped) >= 8  # of 12 days of 24 rows, against a threshold raised by the days' own likeness


def test_null_blocks_are_contiguous_runs_of_the_reference() -> None:
    """The null's draws are runs of the current's size: a reference where each run of rows is alike and unlike
    the others (a level per 10 rows) makes every block separable, random chunks not."""
    levels = np.repeat(np.arange(12.0), 10)  # 120 rows, 12 runs of 10
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"a": levels + 0.05 * rng.standard_normal(120), "b": rng.standard_normal(120)})
    blocks = block_null_aucs(reference, 10, ["a", "b"], [], FAST)
    random = random_draw_null_aucs(reference, 10, ["a", "b"], [], FAST)
    assert np.median(blocks) > 0.85 > 0.6 > np.median(random)
    sizes = null_sizes(120, 10, FAST)
    assert (sizes.block, sizes.chunk, sizes.rest, sizes.starts, sizes.possible) == (10, 10, 110, 39, 111)
    few = null_sizes(28, 7, MultivariateSettings())  # the bike monitor: 22 starts, each for ~5 of 100 draws
    assert (few.block, few.starts, few.possible) == (7, 22, 22)
    small = block_null_aucs(reference.iloc[:28], 7, ["a", "b"], [], MultivariateSettings(null_draws=44, folds=2))
    assert small.shape == (44,) and len(set(small.tolist())) <= 22


def _weekends(weekends: int, seed: int, offset: float = 1.0) -> pd.DataFrame:
    """Event data: `weekends` bursts of 20 rows (kickoffs hours apart on Saturday and Sunday, 5 days between
    weekends), each burst sharing a level of `a` (its weather): rows alike within a weekend, unlike across."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2021-08-14 12:00", tz="Europe/London")
    kickoffs = [start + pd.Timedelta(days=7 * w) + pd.Timedelta(hours=h)
                for w in range(weekends) for h in np.repeat([0.0, 2.5, 5.0, 24.0, 26.5], 4)]
    level = np.repeat(offset * rng.standard_normal(weekends), 20)
    return pd.DataFrame({"kickoff": kickoffs, "a": level + 0.5 * rng.standard_normal(20 * weekends),
                         "b": rng.standard_normal(20 * weekends)})


def test_event_data_is_cut_into_whole_periods_by_its_time_gaps() -> None:
    frame = _weekends(4, 1)
    times = reference_times(frame, ["a", "b"], [])
    assert reference_periods(times, 20).tolist() == [0, 20, 40, 60, 80]
    assert reference_times(frame.drop(columns="kickoff"), ["a", "b"], []) is None  # no time: row blocks
    hourly = pd.date_range("2011-01-01", periods=96, freq="h").to_numpy().astype(np.int64)
    assert reference_periods(hourly, 24) is None  # an even time series: no period breaks, blocks slide
    assert reference_periods(times, 5) is None  # a block of a quarter of a weekend: its gaps are not breaks
    gapped = np.r_[hourly[:48], hourly[72:] + 10**12]  # one left-out day (leave one period out): not periods
    assert reference_periods(gapped, 24) is None


def test_whole_period_null_holds_a_quiet_weekend_where_row_blocks_do_not() -> None:
    """4 weekends whose rows share their weekend's level: a block of 20 contiguous rows straddles two weekends and
    is easier to tell from the rest than a block of whole weekends is, so the row-block null sits low, and a new
    weekend (its own level, drawn like theirs) fails it; the whole-period null (Student-t predictive over the 4
    weekends' AUCs) is higher, and says how it was drawn."""
    reference, settings = _weekends(4, 3, offset=0.4), MultivariateSettings(null_draws=40, folds=3)
    timed = block_null_aucs(reference, 20, ["a", "b"], [], settings)
    untimed = block_null_aucs(reference.drop(columns="kickoff"), 20, ["a", "b"], [], settings)
    assert np.quantile(timed, 0.95) > np.quantile(untimed, 0.95)
    assert timed.shape == (40,) and np.all((timed >= 0) & (timed <= 1))
    result = multivariate_drift(reference, _weekends(1, 11, offset=0.4), ["a", "b"], [], settings)
    assert "Student-t predictive distribution (3 df) of the AUCs of the reference's 4 whole periods" in result.method


def test_an_evenly_spaced_series_is_cut_into_whole_periods_of_the_block() -> None:
    """Hourly or daily rows: runs of the block's length from the first row, cut at a hole (a left-out period);
    not event data (kickoffs sharing a time), rows out of order, or rows sampled at random from a long series."""
    hourly = pd.date_range("2011-01-01", periods=96, freq="h").to_numpy().astype(np.int64)
    assert even_periods(hourly, 24) == [(0, 24), (24, 48), (48, 72), (72, 96)]
    assert even_periods(np.r_[hourly[:48], hourly[72:] + 10**12], 24) == [(0, 24), (24, 48), (48, 72)]
    days = pd.date_range("2011-01-01", periods=28, freq="D").to_numpy().astype(np.int64)
    left_out = np.r_[days[:9], days[16:]]  # a Monday week out of a window that starts on a Saturday
    assert even_periods(left_out, 7) == [(0, 9), (9, 15), (15, 21)]  # each run whole days in a row
    assert even_periods(np.r_[days[:2], days[9:]], 7) == [(2, 8), (8, 15), (15, 21)]  # 2 days: in the rest only
    assert even_periods(hourly[:30], 24) is None  # one run: no spread to measure
    assert even_periods(hourly[::-1], 24) is None
    assert even_periods(np.sort(np.random.default_rng(0).choice(hourly, 48, replace=False)), 12) is None
    weekends = reference_times(_weekends(4, 1), ["a", "b"], [])
    assert even_periods(weekends, 20) is None
    assert whole_periods(weekends, 20)[1] == "cut at its 3 largest time gaps"
    assert whole_periods(hourly, 24) == ([(0, 24), (24, 48), (48, 72), (72, 96)],
                                         "evenly spaced rows cut in runs of about 24")
    assert whole_periods(None, 24) is None


def _days(days: int, seed: int, offset: float) -> pd.DataFrame:
    """Hourly rows whose `a` shares a level per day (its weather): rows alike within a day, unlike across."""
    rng = np.random.default_rng(seed)
    level = np.repeat(offset * rng.standard_normal(days), 24)
    return pd.DataFrame({"ts": pd.date_range("2011-01-01", periods=24 * days, freq="h"),
                         "a": level + 0.5 * rng.standard_normal(24 * days), "b": rng.standard_normal(24 * days)})


def test_evenly_spaced_reference_null_from_its_whole_days() -> None:
    """5 days whose hours share their day's level: the null comes from the reference's 5 whole days (the shape a
    period has), as the Student-t predictive distribution of one more day's AUC, not from sliding blocks of 24
    rows (which straddle two days), and says so."""
    reference, settings = _days(5, 3, offset=0.6), MultivariateSettings(null_draws=40, folds=3)
    timed = block_null_aucs(reference, 24, ["a", "b"], [], settings)
    untimed = block_null_aucs(reference.drop(columns="ts"), 24, ["a", "b"], [], settings)
    assert timed.shape == (40,) and np.all((timed >= 0) & (timed <= 1)) and not np.allclose(timed, untimed)
    assert np.all(np.diff(timed) >= 0)  # quantiles of one distribution, in order
    result = multivariate_drift(reference, _days(1, 11, offset=0.6), ["a", "b"], [], settings)
    assert ("Student-t predictive distribution (4 df) of the AUCs of the reference's 5 whole periods (evenly "
            "spaced rows cut in runs of about 24)") in result.null_method
