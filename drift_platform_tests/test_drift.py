"""Drift logic on DataFrames built in the test: a shifted column is flagged, an i.i.d. batch is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import DriftSettings
from drift_platform.core.stats.drift import compute_drift, drift_margin

SPEC = DatasetSpec.from_dict(
    {
        "name": "synthetic",
        "datetime_column": "ts",
        "target": "y", "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03",
        "columns": {"ts": "datetime", "y": "float", "temp": "float", "hum": "float", "wind": "float", "weather": "int"},
        "numerical_features": ["temp", "hum", "wind"],
        "categorical_features": ["weather"],
    }
)


def frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.date_range("2020-01-01", periods=n, freq="h"),
            "y": rng.gamma(2.0, 10.0, n),
            "temp": rng.normal(15.0, 5.0, n),
            "hum": rng.uniform(0.2, 0.9, n),
            "wind": rng.gamma(2.0, 0.1, n),
            "weather": rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return frame(np.random.default_rng(1), 400)


@pytest.fixture(scope="module")
def iid_batch() -> pd.DataFrame:
    return frame(np.random.default_rng(2), 200)


@pytest.fixture(scope="module")
def shifted_batch(iid_batch) -> pd.DataFrame:
    """The same i.i.d. batch with only temp moved by two standard deviations (2 x 5.0)."""
    return iid_batch.assign(temp=iid_batch["temp"] + 10.0)


def test_iid_batch_is_not_flagged(reference, iid_batch) -> None:
    result = compute_drift(reference, iid_batch, SPEC, with_report=False)
    assert result.drifted_columns == []
    assert result.dataset_drift is False and result.share == 0.0
    assert {c.column for c in result.columns} == {"temp", "hum", "wind", "weather"}


def test_temp_shifted_two_sigma_is_flagged(reference, shifted_batch) -> None:
    current = shifted_batch
    result = compute_drift(reference, current, SPEC, with_report=False)
    assert result.drifted_columns == ["temp"]
    temp = next(c for c in result.columns if c.column == "temp")
    assert temp.method.startswith("K-S") and temp.score < temp.threshold == 0.05
    assert result.share == pytest.approx(0.25)
    assert result.dataset_drift is False  # one column of four is below the default drift share 0.5
    flagged = compute_drift(reference, current, SPEC, DriftSettings(drift_share=0.25), with_report=False)
    assert flagged.dataset_drift is True


def test_methods_and_thresholds_come_from_settings(reference, shifted_batch) -> None:
    current = shifted_batch
    settings = DriftSettings(num_method="wasserstein", num_threshold=0.5, per_column_threshold={"temp": 5.0})
    result = compute_drift(reference, current, SPEC, settings, with_report=False)
    by_column = {c.column: c for c in result.columns}
    assert by_column["temp"].method == "wasserstein" and by_column["temp"].threshold == 5.0
    assert by_column["hum"].threshold == 0.5
    assert result.drifted_columns == []  # a 2-sigma shift is a Wasserstein distance of ~2 < 5


def test_report_bodies_are_written(reference) -> None:
    result = compute_drift(reference.head(50), frame(np.random.default_rng(4), 30), SPEC)
    assert result.report_html.lstrip().startswith(b"<!DOCTYPE html>") and b"plotly" in result.report_html.lower()
    assert '"metrics"' in result.report_json


def test_missing_monitored_column_is_named(reference) -> None:
    with pytest.raises(ValueError, match=r"current data lacks monitored column\(s\) \['wind'\]"):
        compute_drift(reference, frame(np.random.default_rng(5), 20).drop(columns=["wind"]), SPEC)


# --- the fast path against Evidently's own preset ------------------------------------------------------------------
# compute_drift decides each column once, on all rows, with the test Evidently would pick; these cases run a bare
# `Report([DataDriftPreset(...)], include_tests=True).run(cur, ref)` on the same rows and demand identical methods,
# scores, thresholds and decisions (==, not approx), and the same drifted share and dataset verdict.
WIDE = DatasetSpec.from_dict(
    {
        "name": "wide",
        "datetime_column": "ts",
        "target": "y", "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03",
        "columns": {
            "ts": "datetime", "y": "float", "temp": "float", "hum": "float", "level": "int", "flag": "int",
            "weather": "int", "city": "str", "label": "str",
        },
        # level has 5 distinct values and flag 2: numerical columns Evidently tests like categorical ones.
        "numerical_features": ["temp", "hum", "level", "flag"],
        "categorical_features": ["weather", "city", "label"],
    }
)  # fmt: skip
WIDE_COLUMNS = ["temp", "hum", "level", "flag", "weather", "city", "label"]


def wide_frame(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    """`shift` moves temp by shift x sigma and tilts every discrete column's distribution."""
    rng = np.random.default_rng(seed)
    tilt = min(abs(shift), 1.0) * 0.3
    hum = rng.uniform(0.2, 0.9, n) + 0.1 * shift
    hum[rng.random(n) < 0.02] = np.nan  # NaN and inf are dropped before testing, as Evidently does
    hum[rng.random(n) < 0.01] = np.inf
    city = rng.choice(np.array(["north", "south"], dtype=object), n, p=[0.5 + tilt, 0.5 - tilt])
    city[rng.random(n) < 0.02] = None
    return pd.DataFrame(
        {
            "ts": pd.date_range("2020-01-01", periods=n, freq="min"),
            "y": rng.gamma(2.0, 10.0, n),
            "temp": rng.normal(15.0 + 5.0 * shift, 5.0, n),
            "hum": hum,
            "level": rng.choice([1, 2, 3, 4, 5], n, p=[0.4 - tilt, 0.25, 0.15, 0.1, 0.1 + tilt]),
            "flag": rng.choice([0, 1], n, p=[0.7 - tilt, 0.3 + tilt]),
            "weather": rng.choice([1, 2, 3], n, p=[0.6 - tilt, 0.3, 0.1 + tilt]),
            "city": city,
            "label": rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n),
        }
    )


def evidently_preset(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec, settings: DriftSettings,
                     typed: bool = True):
    """The bare preset on all rows: (columns, drifted count, share, dataset drift) as Evidently reports them."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from drift_platform.core.stats.drift import parse_snapshot

    monitored = spec.monitored_columns
    cur, ref = current[monitored], reference[monitored]
    if typed:  # the spec's types, as compute_drift uses them
        definition = DataDefinition(
            numerical_columns=[c for c in monitored if c in spec.numerical_features],
            categorical_columns=[c for c in monitored if c in spec.categorical_features],
        )
        cur, ref = (Dataset.from_pandas(f, data_definition=definition) for f in (cur, ref))
    snapshot = Report([DataDriftPreset(columns=monitored, **settings.preset_kwargs())], include_tests=True).run(cur, ref)
    data = snapshot.dict()
    columns, count, share = parse_snapshot(data, settings.drift_share)
    [share_test] = [t for t in data["tests"] if t["name"].startswith("Share of Drifted Columns")]
    return columns, count, share, share_test["status"] == "FAIL"


def same_decisions(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec = WIDE,
                   settings: DriftSettings | None = None, typed: bool = True):
    """compute_drift, cold (from the frame) and warm (from statistics built beforehand), against the bare preset:
    the same columns, methods, thresholds and decisions, scores within 1e-9 relative, the same share and verdict."""
    from drift_platform.core.stats.drift import column_kinds
    from drift_platform.core.stats.reference_stats import ReferenceStats, build_reference_stats

    settings = settings or DriftSettings()
    columns, count, share, dataset_drift = evidently_preset(reference, current, spec, settings, typed)
    stats = ReferenceStats.from_bytes(build_reference_stats(reference, column_kinds(spec)).to_bytes())
    for source in (reference, stats):
        ours = compute_drift(source, current, spec, settings, with_report=False)
        assert [(c.column, c.method, c.threshold, c.drifted) for c in ours.columns] == [
            (c.column, c.method, c.threshold, c.drifted) for c in columns]
        for mine, theirs in zip(ours.columns, columns, strict=True):
            assert mine.score == pytest.approx(theirs.score, rel=1e-9, abs=1e-300), mine.column
        assert (ours.drifted_count, ours.share, ours.dataset_drift) == (count, share, dataset_drift)
    return ours


def asdict_(column) -> list:
    return [column.column, column.method, column.score, column.threshold, column.drifted]


@pytest.mark.parametrize(
    ("seed", "ref_rows", "cur_rows", "shift"),
    [(10, 400, 300, 0.0), (11, 400, 300, 0.6), (12, 1000, 150, 0.3), (13, 120, 900, 1.0)],
)
def test_small_reference_matches_preset(seed, ref_rows, cur_rows, shift) -> None:
    """<= 1000 reference rows: K-S, chi-square (also numerical `level`), Z-test (binary `flag`, `city`)."""
    ours = same_decisions(wide_frame(seed, ref_rows), wide_frame(seed + 100, cur_rows, shift))
    methods = {c.column: c.method for c in ours.columns}
    assert methods == {
        "temp": "K-S p_value", "hum": "K-S p_value", "level": "chi-square p_value", "flag": "Z-test p_value",
        "weather": "chi-square p_value", "city": "Z-test p_value", "label": "chi-square p_value",
    }  # fmt: skip
    if shift >= 0.6:
        assert {"temp", "hum"} <= set(ours.drifted_columns)


@pytest.mark.parametrize(
    ("seed", "ref_rows", "cur_rows", "shift"),
    [(20, 1001, 500, 0.0), (21, 3000, 2000, 0.15), (22, 2500, 4000, 0.5), (23, 20_000, 30_000, 0.05)],
)
def test_large_reference_matches_preset(seed, ref_rows, cur_rows, shift) -> None:
    """> 1000 reference rows: Wasserstein (normed) for numerical columns, Jensen-Shannon for the rest."""
    reference = wide_frame(seed, ref_rows)
    ours = same_decisions(reference, wide_frame(seed + 100, cur_rows, shift))
    methods = {c.column: c.method for c in ours.columns}
    assert methods["temp"] == "Wasserstein distance (normed)"
    assert {methods[c] for c in ("level", "flag", "weather", "label")} == {"Jensen-Shannon distance"}
    # The 1000-row edge counts the rows left after dropping NaN and inf: 1001 rows minus 2-3 % is "small" again.
    large_hum, large_city = np.isfinite(reference["hum"]).sum() > 1000, reference["city"].notna().sum() > 1000
    assert methods["hum"] == ("Wasserstein distance (normed)" if large_hum else "K-S p_value")
    assert methods["city"] == ("Jensen-Shannon distance" if large_city else "Z-test p_value")
    assert (large_hum, large_city) == ((False, False) if ref_rows == 1001 else (True, True))
    assert {c.threshold for c in ours.columns} == ({0.05, 0.1} if ref_rows == 1001 else {0.1})


def test_wide_tied_constant_and_tiny_columns_match_preset() -> None:
    """A wide table (60 columns: numerical with ties, constants on one or both sides, NaN/inf, text levels new
    or missing in the current side), on both sides of the 1000-row edge, and a tiny current batch."""
    columns, numerical, categorical = {"ts": "datetime", "y": "float"}, [], []

    def make(n: int, shift: float, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        data = {"ts": pd.date_range("2020-01-01", periods=n, freq="min"), "y": rng.normal(size=n)}
        for i in range(30):
            kind = i % 6
            if kind == 0:
                values = rng.normal(shift * (i % 3), 1.0, n)
            elif kind == 1:
                values = np.round(rng.normal(shift, 1.0, n), 1)  # many ties
            elif kind == 2:
                values = np.full(n, 3.0 if shift == 0 or i % 4 else 4.0)  # constant (differently in some)
            elif kind == 3:
                values = rng.integers(0, 4 + (shift > 0), n).astype(float)  # few values, one new
            elif kind == 4:
                values = rng.gamma(2.0, 1.0 + shift, n)
                values[rng.random(n) < 0.05] = np.nan
                values[rng.random(n) < 0.01] = -np.inf
            else:
                values = rng.integers(0, 40, n).astype(float) + shift
            data[f"x{i:02d}"] = values
            levels = np.array([f"l{j}" for j in range(6 + (i % 3))], dtype=object)
            text = levels[rng.integers(0, len(levels) - (1 if shift and i % 2 else 0), n)]
            if shift and i % 5 == 0:
                text[: max(1, n // 10)] = "brand_new"
            data[f"c{i:02d}"] = text
        return pd.DataFrame(data)

    for i in range(30):
        columns[f"x{i:02d}"], columns[f"c{i:02d}"] = "float", "str"
        numerical.append(f"x{i:02d}")
        categorical.append(f"c{i:02d}")
    spec = DatasetSpec.from_dict({**_wide_raw(), "columns": columns, "numerical_features": numerical,
                                  "categorical_features": categorical})
    for ref_rows, cur_rows in ((600, 400), (2500, 1500), (2500, 3)):
        same_decisions(make(ref_rows, 0.0, ref_rows), make(cur_rows, 0.3, cur_rows + 1), spec)


def test_untyped_frames_match_preset() -> None:
    """Literally `.run(cur, ref)` on DataFrames, where Evidently infers the types (floats, strings) itself."""
    spec = DatasetSpec.from_dict({**_wide_raw(), "numerical_features": ["temp", "hum"],
                                  "categorical_features": ["city", "label"]})
    for ref_rows in (600, 5000):
        same_decisions(wide_frame(30, ref_rows), wide_frame(31, 700, 0.4), spec, typed=False)


def _wide_raw() -> dict:
    return {"name": "wide", "datetime_column": "ts", "target": "y", "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03", "columns": dict(WIDE.columns)}


@pytest.mark.parametrize(
    "settings",
    [
        DriftSettings(method="psi"),
        DriftSettings(num_method="ks", cat_method="jensenshannon", threshold=0.2),
        DriftSettings(method="psi", per_column_method={"temp": "wasserstein", "weather": "chisquare"},
                      num_threshold=0.05, per_column_threshold={"temp": 0.3, "city": 0.01}),
        DriftSettings(cat_method="psi", cat_threshold=0.02, num_method="anderson"),
        DriftSettings(per_column_threshold={"temp": 1e-12, "label": 0.5}),  # auto tests, pinned thresholds
    ],
    ids=["psi-all", "by-type", "per-column", "psi-cat-anderson-num", "thresholds-only"],
)
@pytest.mark.parametrize("ref_rows", [500, 2500])
def test_configured_methods_and_thresholds_match_preset(settings, ref_rows) -> None:
    ours = same_decisions(wide_frame(40, ref_rows), wide_frame(41, 800, 0.3), settings=settings)
    by_column = {c.column: c for c in ours.columns}
    if settings.per_column_method:
        assert by_column["temp"].method == "wasserstein" and by_column["temp"].threshold == 0.3


@pytest.mark.parametrize("drift_share", [0.0, 2 / 7, 3 / 7, 0.5, 1.0])
def test_drift_share_edges_match_preset(drift_share) -> None:
    """share >= drift_share is dataset drift, at the exact edge too."""
    reference, current = wide_frame(50, 400), wide_frame(51, 300)
    current = current.assign(temp=current["temp"] + 10.0, weather=3)  # exactly 2 of 7 columns drift
    ours = same_decisions(reference, current, settings=DriftSettings(drift_share=drift_share))
    assert ours.drifted_columns == ["temp", "weather"] and ours.share == 2 / 7
    assert ours.dataset_drift is (drift_share <= 2 / 7)


@pytest.mark.parametrize(
    ("ref_values", "cur_values"),
    [([1.0] * 3, [1.0] * 4), ([0.0, 1.0], [1.0, 0.0, np.nan]), ([1.0, 2.0, 3.0], [1.0, np.inf]),
     ([1.0, 2.0, 3.0, 4.0, 5.0], [5.0, 4.0]), ([1.0, 2.0, 3.0, 4.0, 5.0], [6.0]), ([1, 2, 3, 4, 5, 6], [1, 2])],
)
@pytest.mark.parametrize("ref_repeat", [1, 1000 // 6, 1001])
@pytest.mark.parametrize("kind", ["num", "cat"])
def test_default_test_choice_is_evidentlys(ref_values, cur_values, ref_repeat, kind) -> None:
    """Evidently's own `_get_default_stattest` on the cleaned columns, at the few-values and 1000-row edges."""
    from evidently.legacy.calculations.stattests.registry import _get_default_stattest
    from evidently.legacy.core import ColumnType

    from drift_platform.core.stats.drift import clean_column, default_stattest

    ref = clean_column(pd.Series(ref_values * ref_repeat), "x", "reference")
    cur = clean_column(pd.Series(cur_values * 3000), "x", "current")
    expected = _get_default_stattest(ref, cur, ColumnType.Numerical if kind == "num" else ColumnType.Categorical)
    assert default_stattest(ref, cur, kind) is expected


@pytest.mark.parametrize(
    "values",
    [pd.Series([1.0, np.nan, np.inf, -np.inf, 2.0]), pd.Series(["a", None, "b", np.nan]),
     pd.Series([1, None, 3], dtype="Int64"), pd.Series(["a", float("inf"), "b"], dtype=object),
     pd.Series([3, 1, 2]), pd.Series(["x", "y"], dtype=object), pd.Series([1.5, 2.5])],
)
def test_clean_column_is_evidentlys_cleaning(values) -> None:
    from drift_platform.core.stats.drift import clean_column

    expected = values.replace([-np.inf, np.inf], np.nan).dropna()
    pd.testing.assert_series_equal(clean_column(values, "x", "reference"), expected)


def test_empty_column_after_cleaning_is_named() -> None:
    reference = wide_frame(60, 50)
    with pytest.raises(ValueError, match="An empty column 'hum' was provided for drift calculation in the current"):
        compute_drift(reference, wide_frame(61, 20).assign(hum=np.nan), WIDE, with_report=False)


def test_report_on_all_rows_agrees_with_the_decisions() -> None:
    """Below the sample size the report is Evidently's preset on all rows: its snapshot equals the decisions."""
    import json

    from drift_platform.core.stats.drift import parse_snapshot

    reference, current = wide_frame(70, 900), wide_frame(71, 400, 0.5)
    result = compute_drift(reference, current, WIDE)
    document = json.loads(result.report_json)
    columns, count, share = parse_snapshot(document, 0.5)
    assert columns == list(result.columns) and (count, share) == (result.drifted_count, result.share)
    assert document["drift_platform"]["evidently_sample"]["sampled"] is False
    assert b"seeded sample" not in result.report_html


def test_report_on_a_sample_keeps_the_full_data_decisions() -> None:
    """Above the sample size Evidently renders a seeded sample with the same tests and thresholds; the decisions
    of record (result, JSON `drift_platform.full_data`) are the full data's, and the HTML says so."""
    import json

    reference, current = wide_frame(80, 6000), wide_frame(81, 3000, 0.2)
    result = compute_drift(reference, current, WIDE, report_sample_rows=1500)
    again = compute_drift(reference, current, WIDE, report_sample_rows=1500)
    assert result.report_json == again.report_json  # seeded: the same sample every time
    document = json.loads(result.report_json)
    full = document["drift_platform"]["full_data"]
    assert full["columns"] == [dict(zip(["column", "method", "score", "threshold", "drifted"], asdict_(c), strict=True))
                               for c in result.columns]
    assert (full["reference_rows"], full["current_rows"], full["share"]) == (6000, 3000, result.share)
    sample = document["drift_platform"]["evidently_sample"]
    assert sample == {"sampled": True, "columns_shown": WIDE_COLUMNS, "columns_total": len(WIDE_COLUMNS),
                      "reference_rows": 1500, "current_rows": 1500, "max_rows_per_side": 1500, "seed": 0}
    pinned = {m["config"]["column"]: (m["config"]["method"], m["config"]["threshold"])
              for m in document["metrics"] if m["config"]["type"].endswith(":ValueDrift")}
    assert pinned == {c.column: ("wasserstein" if c.column in ("temp", "hum") else "jensenshannon", c.threshold)
                      for c in result.columns}
    assert b"seeded sample of 1,500 of 6,000 reference rows" in result.report_html
    assert result.report_html.lstrip().startswith(b"<!DOCTYPE html>")


def test_report_of_a_wide_table_shows_the_drifted_columns_first_up_to_the_cap() -> None:
    """Decisions cover every column; the HTML report shows `report_max_columns` of them, the drifted first (the
    furthest past their threshold first), then the others in the spec's order, and says so."""
    import json

    reference, current = wide_frame(90, 400), wide_frame(91, 300)
    current = current.assign(city=current["city"].where(current.index % 2 == 0, "Zurich"), temp=current["temp"] + 30)
    result = compute_drift(reference, current, WIDE, DriftSettings(report_max_columns=3))
    drifted = [c for c in result.columns if c.drifted]
    assert {c.column for c in drifted} >= {"temp", "city"} and len(result.columns) == len(WIDE_COLUMNS)
    document = json.loads(result.report_json)
    shown = document["drift_platform"]["evidently_sample"]["columns_shown"]
    ranked = [c.column for c in sorted(drifted, key=drift_margin, reverse=True)]
    expected = (ranked + [c for c in WIDE_COLUMNS if c not in ranked])[:3]
    assert shown == [c for c in WIDE_COLUMNS if c in expected]  # the spec's order
    assert {"temp", "city"} <= set(shown)
    reported = {m["config"]["column"] for m in document["metrics"] if m["config"]["type"].endswith(":ValueDrift")}
    assert reported == set(shown)
    assert document["drift_platform"]["full_data"]["drifted_count"] == len(drifted)
    assert b"3 of the 7 monitored columns (the drifted first" in result.report_html
    assert result.snapshot.to_snapshot_model().metadata["drift_platform/columns_shown"] == "3 of 7"


def test_columns_in_a_pool_give_the_same_decisions_and_log_progress(monkeypatch) -> None:
    """A wide table's columns go to a bounded pool of threads: the decisions equal the sequential ones, in the spec's
    order, and long runs log columns done / total and the rate."""
    import drift_platform.core.stats.drift as drift

    reference, current = wide_frame(95, 1500), wide_frame(96, 800, 0.4)
    spec = DatasetSpec.from_dict({**_wide_raw(), "numerical_features": ["temp", "hum", "level", "flag"],
                                  "categorical_features": ["weather", "city", "label"]})
    sequential = compute_drift(reference, current, spec, with_report=False, workers=1)
    monkeypatch.setattr(drift, "PROGRESS_SECONDS", 0.0)
    lines: list[str] = []
    pooled = compute_drift(reference, current, spec, with_report=False, workers=2, log=lines.append)
    assert pooled == sequential and [c.column for c in pooled.columns] == WIDE_COLUMNS
    assert lines and lines[-1].startswith("drift decisions: 7 columns in ")
    assert any(line.startswith("drift decisions: ") and " / 7 columns, " in line and "columns/s" in line
               for line in lines)
