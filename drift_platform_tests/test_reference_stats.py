"""reference_stats against Evidently in the same process: for every case, the decision from the cached reference
statistics (in memory and after a bytes round trip) has the method, threshold, decision and Evidently test name of
`drift.column_drift` (Evidently's own StatTest on the full columns), and its score within 1e-9 relative."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.settings import CAT, NUM, DriftSettings
from drift_platform.core.stats import drift
from drift_platform.core.stats.reference_stats import (
    FORMAT,
    MAX_LEVELS,
    ColumnStats,
    ReferenceStats,
    _histogram_bin_edges_sturges,
    _wasserstein_sorted,
    build_reference_stats,
    column_drift_from_stats,
    reference_version,
)

SMALL, LARGE = 600, 4000  # reference rows on either side of Evidently's 1000-row switch
STRINGS = np.array([f"level_{i:02d}" for i in range(40)], dtype=object)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _with_gaps(values: np.ndarray, rng: np.random.Generator, fill: tuple) -> pd.Series:
    """`values` as an object-or-float Series with some entries replaced by `fill` values (NaN, None, +-inf)."""
    series = pd.Series(values, dtype=object if any(f is None for f in fill) else values.dtype)
    where = rng.choice(len(series), size=max(1, len(series) // 20), replace=False)
    series.iloc[where] = [fill[i % len(fill)] for i in range(len(where))]
    return series


# name -> builder(rng) -> (reference, current, kind)
CASES: dict[str, Callable[[np.random.Generator], tuple[pd.Series, pd.Series, str]]] = {
    # numerical, continuous
    "num_continuous_small": lambda r: (pd.Series(r.normal(0, 1, SMALL)), pd.Series(r.normal(0.3, 1, 400)), NUM),
    "num_continuous_large": lambda r: (pd.Series(r.normal(0, 1, LARGE)), pd.Series(r.normal(0.05, 1, 3000)), NUM),
    "num_equal_sizes_large": lambda r: (pd.Series(r.normal(0, 1, 2000)), pd.Series(r.normal(0.2, 1.2, 2000)), NUM),
    "num_current_larger": lambda r: (pd.Series(r.gamma(2, 1, 1500)), pd.Series(r.gamma(2.2, 1, 5000)), NUM),
    "num_current_tiny_large_ref": lambda r: (pd.Series(r.normal(0, 1, LARGE)), pd.Series(r.normal(0, 1, 3)), NUM),
    "num_large_magnitude": lambda r: (pd.Series(1e6 + r.normal(0, 1, LARGE)), pd.Series(1e6 + r.normal(0, 1, 2500)),
                                      NUM),
    "num_float32_large": lambda r: (pd.Series(r.normal(0, 1, LARGE).astype(np.float32)),
                                    pd.Series(r.normal(0.1, 1, 3000).astype(np.float32)), NUM),
    # numerical, few distinct values (Evidently tests <= 5 like categorical; bins only > 20 reference values)
    "num_2_values_small": lambda r: (pd.Series(r.integers(0, 2, SMALL)), pd.Series(r.choice(2, 300, p=[0.6, 0.4])),
                                     NUM),
    "num_2_values_large": lambda r: (pd.Series(r.integers(0, 2, LARGE)), pd.Series(r.integers(0, 2, 2000)), NUM),
    "num_4_values_small": lambda r: (pd.Series(r.integers(0, 4, SMALL)),
                                     pd.Series(r.choice(4, 500, p=[0.1, 0.2, 0.3, 0.4])), NUM),
    "num_4_values_large": lambda r: (pd.Series(r.integers(0, 4, LARGE) * 1.5), pd.Series(r.integers(0, 4, 3000) * 1.5),
                                     NUM),
    "num_12_values_small": lambda r: (pd.Series(r.integers(0, 12, SMALL)), pd.Series(r.integers(0, 12, 300)), NUM),
    "num_12_values_large": lambda r: (pd.Series(r.integers(0, 12, LARGE)), pd.Series(r.integers(1, 14, 3000)), NUM),
    "num_50_values_small": lambda r: (pd.Series(r.integers(0, 50, SMALL)), pd.Series(r.integers(5, 60, 400)), NUM),
    "num_50_values_large": lambda r: (pd.Series(r.integers(0, 50, LARGE)), pd.Series(r.integers(0, 55, 3000)), NUM),
    "num_ties_large": lambda r: (pd.Series(np.round(r.normal(0, 1, LARGE), 1)),
                                 pd.Series(np.round(r.normal(0.1, 1, 3000), 1)), NUM),
    "num_int8_large": lambda r: (pd.Series(r.integers(-100, 100, LARGE).astype(np.int8)),
                                 pd.Series(r.integers(-90, 110, 3000).astype(np.int8)), NUM),
    "num_int_ref_float_current": lambda r: (pd.Series(r.integers(0, 1000, LARGE)),
                                            pd.Series(r.uniform(0, 1100, 3000)), NUM),
    "num_ref_2_values_current_continuous": lambda r: (pd.Series(r.integers(0, 2, LARGE).astype(float)),
                                                      pd.Series(r.normal(0.5, 1, 3000)), NUM),
    "num_ref_3_values_current_6_small": lambda r: (pd.Series(r.integers(1, 4, SMALL)),
                                                   pd.Series(r.integers(1, 7, 300)), NUM),
    "num_ref_2_values_long_current": lambda r: (pd.Series(r.integers(0, 2, LARGE).astype(float)),
                                                pd.Series(r.normal(0.5, 1, 25_000)), NUM),
    "num_ref_2_values_late_new_values": lambda r: (  # the current's first 10,000 rows hold no new value
        pd.Series(r.integers(0, 2, LARGE)), pd.Series(np.r_[r.integers(0, 2, 20_000), r.integers(2, 8, 2000)]), NUM),
    "num_bool_large": lambda r: (pd.Series(r.random(LARGE) < 0.3), pd.Series(r.random(2000) < 0.4), NUM),
    "num_nullable_int_large": lambda r: (
        pd.Series(list(r.integers(0, 40, LARGE - 10)) + [None] * 10, dtype="Int64"),
        pd.Series(r.integers(0, 45, 3000), dtype="Int64"), NUM),
    # numerical, constant
    "num_constant_equal_small": lambda r: (pd.Series(np.full(SMALL, 5.0)), pd.Series(np.full(200, 5.0)), NUM),
    "num_constant_equal_large": lambda r: (pd.Series(np.full(LARGE, 5.0)), pd.Series(np.full(2000, 5.0)), NUM),
    "num_constant_different_small": lambda r: (pd.Series(np.full(SMALL, 5.0)), pd.Series(np.full(200, 7.0)), NUM),
    "num_constant_different_large": lambda r: (pd.Series(np.full(LARGE, 5)), pd.Series(np.full(2000, 7)), NUM),
    # numerical, NaN / inf, tiny sides
    "num_nan_inf_small": lambda r: (_with_gaps(r.normal(0, 1, SMALL), r, (np.nan, np.inf, -np.inf)),
                                    _with_gaps(r.normal(0.2, 1, 300), r, (np.nan, -np.inf)), NUM),
    "num_nan_inf_large": lambda r: (_with_gaps(r.normal(0, 1, LARGE), r, (np.nan, np.inf, -np.inf)),
                                    _with_gaps(r.normal(0, 1.1, 3000), r, (np.inf, np.nan)), NUM),
    "num_none_object_large": lambda r: (_with_gaps(r.normal(0, 1, LARGE), r, (None,)).astype(float),
                                        _with_gaps(r.normal(0, 1, 2000), r, (None,)).astype(float), NUM),
    "num_one_row_each": lambda r: (pd.Series([1.5]), pd.Series([1.5]), NUM),
    "num_one_vs_two_rows": lambda r: (pd.Series([1.5]), pd.Series([2.5, np.nan, 3.5]), NUM),
    "num_three_vs_one_rows": lambda r: (pd.Series([0.1, 0.7, 0.3]), pd.Series([0.2]), NUM),
    "num_seven_vs_three_rows": lambda r: (pd.Series(r.normal(0, 1, 7)), pd.Series(r.normal(1, 1, 3)), NUM),
    # categorical
    "cat_int_2_small": lambda r: (pd.Series(r.integers(0, 2, SMALL)), pd.Series(r.integers(0, 2, 300)), CAT),
    "cat_int_2_large": lambda r: (pd.Series(r.integers(1, 3, LARGE)), pd.Series(r.choice([1, 2], 2000, p=[0.45, 0.55])),
                                  CAT),
    "cat_int_many_small": lambda r: (pd.Series(r.integers(0, 20, SMALL)), pd.Series(r.integers(0, 20, 400)), CAT),
    "cat_int_many_large": lambda r: (pd.Series(r.integers(0, 20, LARGE)), pd.Series(r.integers(0, 21, 3000)), CAT),
    "cat_str_2_small": lambda r: (pd.Series(STRINGS[r.integers(0, 2, SMALL)]), pd.Series(STRINGS[r.integers(0, 2, 250)]),
                                  CAT),
    "cat_str_2_large": lambda r: (pd.Series(STRINGS[r.integers(0, 2, LARGE)]),
                                  pd.Series(STRINGS[r.integers(0, 2, 3000)]), CAT),
    "cat_str_many_small": lambda r: (pd.Series(STRINGS[r.integers(0, 30, SMALL)]),
                                     pd.Series(STRINGS[r.integers(0, 30, 500)]), CAT),
    "cat_str_many_large": lambda r: (pd.Series(STRINGS[r.integers(0, 30, LARGE)]),
                                     pd.Series(STRINGS[r.integers(0, 30, 3000)]), CAT),
    "cat_new_levels_in_current_small": lambda r: (pd.Series(STRINGS[r.integers(0, 5, SMALL)]),
                                                  pd.Series(STRINGS[r.integers(0, 8, 300)]), CAT),
    "cat_new_levels_in_current_large": lambda r: (pd.Series(STRINGS[r.integers(0, 5, LARGE)]),
                                                  pd.Series(STRINGS[r.integers(3, 12, 3000)]), CAT),
    "cat_levels_missing_in_current_small": lambda r: (pd.Series(STRINGS[r.integers(0, 8, SMALL)]),
                                                      pd.Series(STRINGS[r.integers(0, 3, 300)]), CAT),
    "cat_levels_missing_in_current_large": lambda r: (pd.Series(r.integers(0, 8, LARGE)),
                                                      pd.Series(r.integers(2, 5, 3000)), CAT),
    "cat_one_level_missing_2_levels": lambda r: (pd.Series(STRINGS[r.integers(0, 2, SMALL)]),
                                                 pd.Series(STRINGS[np.zeros(200, int)]), CAT),
    "cat_constant_equal_small": lambda r: (pd.Series(["a"] * SMALL), pd.Series(["a"] * 100), CAT),
    "cat_constant_equal_large": lambda r: (pd.Series(["a"] * LARGE), pd.Series(["a"] * 100), CAT),
    "cat_constant_different_small": lambda r: (pd.Series(["a"] * SMALL), pd.Series(["b"] * 100), CAT),
    "cat_constant_different_large": lambda r: (pd.Series([3] * LARGE), pd.Series([4] * 100), CAT),
    "cat_none_nan_small": lambda r: (_with_gaps(STRINGS[r.integers(0, 6, SMALL)], r, (None, np.nan)),
                                     _with_gaps(STRINGS[r.integers(0, 6, 300)], r, (None,)), CAT),
    "cat_none_nan_large": lambda r: (_with_gaps(STRINGS[r.integers(0, 6, LARGE)], r, (None, np.nan)),
                                     _with_gaps(STRINGS[r.integers(0, 7, 3000)], r, (np.nan,)), CAT),
    "cat_float_levels_nan_large": lambda r: (_with_gaps(r.integers(0, 9, LARGE) / 2, r, (np.nan, np.inf)),
                                             pd.Series(r.integers(0, 9, 3000) / 2), CAT),
    "cat_category_dtype_large": lambda r: (pd.Series(STRINGS[r.integers(0, 6, LARGE)], dtype="category"),
                                           pd.Series(STRINGS[r.integers(0, 7, 3000)], dtype="category"), CAT),
    "cat_bool_small": lambda r: (pd.Series(r.random(SMALL) < 0.5), pd.Series(r.random(300) < 0.6), CAT),
    "cat_mixed_int_str_small": lambda r: (pd.Series(np.array([1, 2, "x", "y"], dtype=object)[r.integers(0, 4, SMALL)]),
                                          pd.Series(np.array([1, "x", "z"], dtype=object)[r.integers(0, 3, 300)]),
                                          CAT),
    "cat_2_levels_late_new_level_small": lambda r: (
        pd.Series(STRINGS[r.integers(0, 2, SMALL)]), pd.Series(STRINGS[np.r_[r.integers(0, 2, 21_000), [2, 2]]]), CAT),
    "cat_one_row_each": lambda r: (pd.Series(["a"]), pd.Series(["b"]), CAT),
    "cat_three_vs_two_rows": lambda r: (pd.Series(["a", "b", "a"]), pd.Series(["c", "a"]), CAT),
}

# Evidently's registered tests to configure, per kind; the last ones of each are refused by Evidently (the same
# error is expected), and "anderson", "mannw", "hellinger" have no fast path (Evidently on a rebuilt reference).
METHODS = {
    NUM: [None, "ks", "wasserstein", "jensenshannon", "psi", "anderson", "mannw", "chisquare", "z"],
    CAT: [None, "jensenshannon", "psi", "chisquare", "z", "hellinger", "ks", "wasserstein"],
}
PARAMS = [
    pytest.param(case, method, id=f"{case}-{method or 'default'}")
    for case, build in CASES.items()
    for method in METHODS[CAT if case.startswith("cat") else NUM]
]
NOT_SERIALIZABLE = {"cat_mixed_int_str_small"}  # pyarrow cannot write a column of ints and strings in the sample


def _outcome(call: Callable[[], tuple]) -> tuple:
    try:
        return ("ok", *call())
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


def assert_same_as_evidently(
    reference: pd.Series, current: pd.Series, kind: str, settings: DriftSettings, column: str = "x",
    stats: ReferenceStats | None = None, roundtrip: bool = True,
) -> tuple[drift.ColumnDrift, str] | None:
    """The decision from the stats (and from their bytes round trip) equals drift.column_drift's, which runs
    Evidently's StatTest on both full columns; an error Evidently raises is raised alike."""
    expected = _outcome(lambda: drift.column_drift(reference, current, column, kind, settings))
    if stats is None:
        stats = build_reference_stats(pd.DataFrame({column: reference}), {column: kind})
    variants = [stats] + ([ReferenceStats.from_bytes(stats.to_bytes())] if roundtrip else [])
    for variant in variants:
        got = _outcome(lambda v=variant: column_drift_from_stats(v.columns[column], current, settings))
        if expected[0] == "error" or got[0] == "error":
            assert got == expected
            continue
        (_, want, stattest), (_, have, name) = expected, got
        assert name == stattest.name
        assert (have.column, have.method, have.threshold, have.drifted) == (
            want.column, want.method, want.threshold, want.drifted)
        assert have.score == pytest.approx(want.score, rel=1e-9, abs=1e-12, nan_ok=True)
    return None if got[0] == "error" else got[1:]


@pytest.mark.parametrize(("case", "method"), PARAMS)
def test_decision_equals_evidently(case: str, method: str | None) -> None:
    reference, current, kind = CASES[case](_rng(case))
    assert_same_as_evidently(reference, current, kind, DriftSettings(method=method),
                             roundtrip=case not in NOT_SERIALIZABLE)


def test_cases_cover_every_default_test() -> None:
    """The default choice lands on each of Evidently's six defaults somewhere in CASES, on both kinds."""
    seen = set()
    for case, build in CASES.items():
        reference, current, kind = build(_rng(case))
        stats = build_reference_stats(pd.DataFrame({"x": reference}), {"x": kind})
        _, name = column_drift_from_stats(stats.columns["x"], current, DriftSettings())
        seen.add((kind, name))
    assert seen >= {(NUM, "ks"), (NUM, "wasserstein"), (NUM, "jensenshannon"), (NUM, "chisquare"), (NUM, "z"),
                    (CAT, "jensenshannon"), (CAT, "chisquare"), (CAT, "z")}


SETTINGS = {
    "threshold_all": DriftSettings(threshold=0.2),
    "threshold_by_kind": DriftSettings(num_threshold=0.01, cat_threshold=0.3),
    "threshold_per_column": DriftSettings(num_threshold=0.01, cat_threshold=0.3, per_column_threshold={"x": 0.5}),
    "method_and_threshold_per_column": DriftSettings(method="psi", per_column_method={"x": "jensenshannon"},
                                                     per_column_threshold={"x": 0.02}),
    "method_by_kind": DriftSettings(num_method="ks", cat_method="chisquare", threshold=0.5),
    "other_column_configured": DriftSettings(per_column_method={"y": "psi"}, per_column_threshold={"y": 0.9}),
}


@pytest.mark.parametrize("settings", list(SETTINGS), ids=list(SETTINGS))
@pytest.mark.parametrize("case", ["num_continuous_small", "num_continuous_large", "num_4_values_large",
                                  "cat_str_many_small", "cat_str_2_large", "cat_new_levels_in_current_large"])
def test_thresholds_and_methods_from_settings(case: str, settings: str) -> None:
    reference, current, kind = CASES[case](_rng(case))
    assert_same_as_evidently(reference, current, kind, SETTINGS[settings])


def test_drifted_and_not_drifted_both_occur() -> None:
    """The cases exercise both decisions (a test passing only on 'not drifted' would prove little)."""
    decisions = set()
    for case in ("num_continuous_small", "num_continuous_large", "cat_str_many_large", "cat_constant_equal_large",
                 "num_constant_different_large", "num_equal_sizes_large"):
        reference, current, kind = CASES[case](_rng(case))
        stats = build_reference_stats(pd.DataFrame({"x": reference}), {"x": kind})
        decisions.add(column_drift_from_stats(stats.columns["x"], current, DriftSettings())[0].drifted)
    assert decisions == {True, False}


def test_wide_frame_column_by_column() -> None:
    """200 columns (100 numerical, 100 8-level text), 3000 reference vs 2000 current rows, one stats build."""
    rng = np.random.default_rng(7)
    ref, cur, kinds = {}, {}, {}
    for i in range(100):
        ref[f"n{i}"] = rng.normal(0, 1 + i % 3, 3000)
        cur[f"n{i}"] = rng.normal(0.02 * (i % 10), 1 + i % 3, 2000)
        kinds[f"n{i}"] = NUM
    texts = STRINGS[:8]
    for i in range(100):
        p = np.linspace(1, 1 + (i % 5) * 0.3, 8)
        ref[f"t{i}"] = texts[rng.choice(8, 3000)]
        cur[f"t{i}"] = texts[rng.choice(8, 2000, p=p / p.sum())]
        kinds[f"t{i}"] = CAT
    reference, current = pd.DataFrame(ref), pd.DataFrame(cur)
    stats = build_reference_stats(reference, kinds)
    restored = ReferenceStats.from_bytes(stats.to_bytes())
    assert restored == stats
    settings = DriftSettings()
    names, drifted = set(), 0
    for column, kind in kinds.items():
        expected, stattest = drift.column_drift(reference[column], current[column], column, kind, settings)
        for variant in (stats, restored):
            got, name = column_drift_from_stats(variant.columns[column], current[column], settings)
            assert name == stattest.name
            assert (got.method, got.threshold, got.drifted) == (expected.method, expected.threshold, expected.drifted)
            assert got.score == pytest.approx(expected.score, rel=1e-9, abs=1e-12)
        names.add(name)
        drifted += expected.drifted
    assert names == {"wasserstein", "jensenshannon"} and 0 < drifted < 200


# --- the artifact -------------------------------------------------------------------------------------------------
def mixed_frame(rows: int = 3000, seed: int = 11) -> tuple[pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "temp": rng.normal(15, 5, rows),
        "count": rng.integers(0, 30, rows),
        "flag": rng.integers(0, 2, rows),
        "hum": _with_gaps(rng.uniform(0, 1, rows), rng, (np.nan, np.inf)),
        "weather": STRINGS[rng.integers(0, 4, rows)],
        "code": rng.integers(100, 120, rows),
        "kind": pd.Series(STRINGS[rng.integers(0, 3, rows)], dtype="category"),
        "unmonitored": rng.normal(0, 1, rows),
    })
    kinds = {"temp": NUM, "count": NUM, "flag": NUM, "hum": NUM, "weather": CAT, "code": CAT, "kind": CAT}
    return frame, kinds


def test_round_trip_gives_identical_stats_and_decisions() -> None:
    reference, kinds = mixed_frame()
    current, _ = mixed_frame(2000, seed=12)
    stats = build_reference_stats(reference, kinds, sample_rows=500, seed=3)
    data = stats.to_bytes()
    restored = ReferenceStats.from_bytes(data)
    assert restored == stats and restored.to_bytes() == data
    assert list(restored.columns) == list(kinds)
    for column, stats_column in stats.columns.items():
        back = restored.columns[column]
        assert back.levels is None or back.levels.dtype == stats_column.levels.dtype
        for settings in (DriftSettings(), DriftSettings(method="psi"), DriftSettings(method="jensenshannon")):
            assert column_drift_from_stats(back, current[column], settings) == column_drift_from_stats(
                stats_column, current[column], settings)
    pd.testing.assert_frame_equal(restored.sample, stats.sample)


def test_stats_content() -> None:
    reference, kinds = mixed_frame()
    stats = build_reference_stats(reference, kinds)
    assert stats.rows == len(reference) and stats.version == reference_version(reference, list(kinds))
    hum = stats.columns["hum"]
    cleaned = drift.clean_column(reference["hum"], "hum", "reference")
    assert hum.rows == len(cleaned) < len(reference)
    assert hum.sorted_values.dtype == np.float64 and np.array_equal(hum.sorted_values, np.sort(cleaned.to_numpy()))
    assert hum.std == float(np.std(cleaned)) and hum.distinct == cleaned.nunique()
    assert hum.distinct <= MAX_LEVELS and hum.counts.sum() == hum.rows and len(hum.levels) == hum.distinct
    count = stats.columns["count"]
    assert count.levels is not None and list(count.levels) == list(reference["count"].unique())  # first appearance
    assert count.counts.dtype == np.int64 and count.counts.sum() == count.rows and count.dtype == "int64"
    weather = stats.columns["weather"]
    assert weather.sorted_values is None and weather.std is None and weather.dtype == "object"
    assert dict(zip(weather.levels, weather.counts, strict=True)) == reference["weather"].value_counts().to_dict()
    assert stats.columns["kind"].dtype == "category"
    assert "unmonitored" not in stats.columns and list(stats.sample.columns) == list(kinds)


def test_many_distinct_numerical_values_keep_no_levels() -> None:
    values = pd.Series(np.arange(MAX_LEVELS + 1, dtype=float))
    stats = build_reference_stats(pd.DataFrame({"x": values}), {"x": NUM}).columns["x"]
    assert stats.distinct == MAX_LEVELS + 1 and stats.levels is None and stats.counts is None
    few = build_reference_stats(pd.DataFrame({"x": values % MAX_LEVELS}), {"x": NUM}).columns["x"]
    assert few.distinct == MAX_LEVELS and len(few.levels) == MAX_LEVELS
    current = pd.Series(np.arange(2000, dtype=float) * 3.1)
    for settings in (DriftSettings(), DriftSettings(method="psi"), DriftSettings(method="mannw")):
        assert_same_as_evidently(values, current, NUM, settings)


def test_sample_is_drifts_seeded_sample() -> None:
    reference, kinds = mixed_frame(rows=9000)
    stats = build_reference_stats(reference, kinds, sample_rows=2000, seed=5)
    pd.testing.assert_frame_equal(stats.sample, drift.seeded_sample(reference, list(kinds), 2000, 5))
    assert len(stats.sample) == 2000
    small = build_reference_stats(reference.iloc[:100], kinds)
    pd.testing.assert_frame_equal(small.sample, reference.iloc[:100][list(kinds)].reset_index(drop=True))


def _rewritten(data: bytes, change: Callable[[dict], None]) -> bytes:
    """The archive with its header (JSON) or arrays changed by `change(arrays)`."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["header"] = json.loads(arrays["header"].tobytes())
    change(arrays)
    arrays["header"] = np.frombuffer(json.dumps(arrays["header"]).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _npy_bytes() -> bytes:
    out = io.BytesIO()
    np.save(out, np.arange(3))
    return out.getvalue()


def _npz_without_header() -> bytes:
    out = io.BytesIO()
    np.savez(out, values=np.arange(3))
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a reference-stats artifact"),
        (b"garbage, not an archive", "not a reference-stats artifact"),
        (np.random.default_rng(0).bytes(4096), "not a reference-stats artifact"),
        (_npy_bytes(), "not a reference-stats artifact"),
        (_npz_without_header(), "has no 'header'"),
    ],
    ids=["empty", "text", "random", "npy", "no-header"],
)
def test_from_bytes_refuses_garbage(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReferenceStats.from_bytes(data)


def test_from_bytes_refuses_another_format_and_malformed_content() -> None:
    reference, kinds = mixed_frame(500)
    data = build_reference_stats(reference, kinds).to_bytes()
    newer = _rewritten(data, lambda a: a["header"].update(format=FORMAT + 1))
    with pytest.raises(ValueError, match=rf"format {FORMAT + 1} is not supported.*reads format {FORMAT}"):
        ReferenceStats.from_bytes(newer)
    unversioned = _rewritten(data, lambda a: a["header"].pop("format"))
    with pytest.raises(ValueError, match="format None is not supported"):
        ReferenceStats.from_bytes(unversioned)

    def bad_counts(arrays: dict) -> None:
        arrays["counts_1"] = arrays["counts_1"] + 1

    def short_sorted(arrays: dict) -> None:
        arrays["sorted_0"] = arrays["sorted_0"][:-1]

    def no_sample(arrays: dict) -> None:
        del arrays["sample"]

    def bad_kind(arrays: dict) -> None:
        arrays["header"]["columns"][0]["kind"] = "text"

    def missing_field(arrays: dict) -> None:
        del arrays["header"]["columns"][2]["distinct"]

    def not_json(arrays: dict) -> None:
        arrays["header"] = {"format": FORMAT, "columns": 7, "version": "x", "rows": 1}

    for change, message in ((bad_counts, "counts do not add up"), (short_sorted, "sorted values do not match"),
                            (no_sample, "no sample"), (bad_kind, "unknown kind 'text'"),
                            (missing_field, "KeyError"), (not_json, "malformed reference stats")):
        with pytest.raises(ValueError, match=message):
            ReferenceStats.from_bytes(_rewritten(data, change))
    with pytest.raises(ValueError, match="must be bytes"):
        ReferenceStats.from_bytes("not bytes")  # type: ignore[arg-type]


def test_to_bytes_refuses_what_parquet_cannot_hold() -> None:
    reference, current, kind = CASES["cat_mixed_int_str_small"](_rng("cat_mixed_int_str_small"))
    stats = build_reference_stats(pd.DataFrame({"x": reference}), {"x": kind})
    with pytest.raises(ValueError, match="cannot be written as parquet"):
        stats.to_bytes()


def test_reference_version() -> None:
    reference, kinds = mixed_frame(1000)
    columns = list(kinds)
    version = reference_version(reference, columns)
    assert len(version) == 64 and int(version, 16) >= 0
    assert reference_version(reference.copy(), columns) == version
    assert reference_version(reference.set_index(reference.index + 10), columns) == version  # the index is not content
    assert reference_version(reference.assign(unmonitored=0.0), columns) == version  # nor are other columns
    changed = reference.copy()
    changed.loc[500, "temp"] += 1e-9
    swapped = reference.copy()
    swapped.iloc[[3, 4]] = reference.iloc[[4, 3]].to_numpy()
    retyped = reference.astype({"count": "float64"})  # the same numbers, another dtype
    renamed = reference.rename(columns={"temp": "temperature"})
    others = {
        reference_version(changed, columns),
        reference_version(swapped, columns),
        reference_version(retyped, columns),
        reference_version(renamed, ["temperature", *columns[1:]]),
        reference_version(reference.iloc[:-1], columns),
        reference_version(reference, columns[:-1]),
        reference_version(reference.assign(weather=reference["weather"].replace("level_00", "level_99")), columns),
    }
    assert version not in others and len(others) == 7
    assert build_reference_stats(reference, kinds).version == version


def test_errors_are_drifts() -> None:
    """Empty columns and non-numerical NUM columns raise drift.column_drift's messages, on either side."""
    good = pd.Series(np.arange(10.0))
    empty = pd.Series([np.nan, np.inf, None], dtype=float)
    text = pd.Series(list("abcdefghij"))
    settings = DriftSettings()
    for reference, kind in ((empty, NUM), (empty.astype(object), CAT), (text, NUM)):
        expected = _outcome(lambda r=reference, k=kind: drift.column_drift(r, good, "x", k, settings))
        got = _outcome(lambda r=reference, k=kind: (build_reference_stats(pd.DataFrame({"x": r}), {"x": k}),))
        assert expected[0] == "error" and got == expected
    stats = build_reference_stats(pd.DataFrame({"x": good}), {"x": NUM}).columns["x"]
    for current in (empty, text):
        expected = _outcome(lambda c=current: drift.column_drift(good, c, "x", NUM, settings))
        assert expected[0] == "error" and _outcome(lambda c=current: column_drift_from_stats(stats, c, settings)) == expected
    with pytest.raises(ValueError, match=r"lacks monitored column\(s\) \['y'\]"):
        build_reference_stats(pd.DataFrame({"x": good}), {"x": NUM, "y": CAT})
    with pytest.raises(ValueError, match="Unexpected feature_type text"):
        build_reference_stats(pd.DataFrame({"x": good}), {"x": "text"})


def test_column_stats_compare_by_value() -> None:
    reference, kinds = mixed_frame(800)
    one, two = build_reference_stats(reference, kinds), build_reference_stats(reference.copy(), kinds)
    assert one == two and one.columns["temp"] == two.columns["temp"]
    assert one.columns["temp"] != one.columns["count"]
    assert isinstance(one.columns["temp"], ColumnStats) and not one.columns["temp"].sorted_values.flags.writeable


# --- the pieces rebuilt from numpy / scipy ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32", "int8", "uint8", "uint64", "int16"])
@pytest.mark.parametrize("shape", ["spread", "narrow", "constant", "two"])
def test_sturges_edges_equal_numpy(dtype: str, shape: str) -> None:
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if shape == "spread":
        values = rng.uniform(info.min if info else -1e3, info.max if info else 1e3, 5000)
    elif shape == "narrow":
        values = rng.uniform(10, 14, 777)
    elif shape == "constant":
        values = np.full(50, 7.0)
    else:
        values = np.array([3.0, 9.0])
    a = values.astype(dtype)
    edges = _histogram_bin_edges_sturges(a.min(), a.max(), a.size, a.dtype)
    expected = np.histogram_bin_edges(a, bins="sturges")
    assert edges.dtype == expected.dtype and np.array_equal(edges, expected)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 5), (5, 1), (7, 3), (3, 7), (1000, 999), (999, 1000),
                                      (1000, 1000), (40_000, 30_001), (2, 70_000)])
def test_wasserstein_equals_scipy(n: int, m: int) -> None:
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(n * 31 + m)
    for a, b in ((rng.normal(0, 1, n), rng.normal(0.3, 2, m)),
                 (np.round(rng.normal(0, 1, n), 1), np.round(rng.normal(0, 1, m), 1)),  # ties across the sides
                 (rng.integers(0, 3, n).astype(float), rng.integers(1, 4, m).astype(float))):
        expected = wasserstein_distance(a, b)
        assert _wasserstein_sorted(np.sort(a), np.sort(b)) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_module_imports_neither_evidently_nor_dagster() -> None:
    """Importing the module, building stats and deciding with the fast paths loads neither Evidently nor Dagster."""
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from drift_platform.core.stats.reference_stats import build_reference_stats, column_drift_from_stats\n"
        "from drift_platform.core.settings import DriftSettings\n"
        "rng = np.random.default_rng(0)\n"
        "frame = pd.DataFrame({'a': rng.normal(size=2000), 'b': rng.choice(['x', 'y', 'z'], 2000)})\n"
        "stats = build_reference_stats(frame, {'a': 'num', 'b': 'cat'})\n"
        "for method in (None, 'ks', 'psi', 'jensenshannon'):\n"
        "    column_drift_from_stats(stats.columns['a'], frame['a'] + 0.1, DriftSettings(method=method))\n"
        "for method in (None, 'chisquare', 'z', 'psi'):\n"
        "    column_drift_from_stats(stats.columns['b'], frame['b'], DriftSettings(method=method))\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('evidently', 'dagster'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
