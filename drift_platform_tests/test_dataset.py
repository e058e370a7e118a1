"""The dataset spec and the data contract: valid specs load, invalid ones and bad batches say what is wrong."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from drift_platform.core.intake.contract import DataContractError, conform
from drift_platform.core.intake.dataset import DatasetSpec, DatasetSpecError
from drift_platform.core.intake.source import SourceError, load_window, parse_csv
from drift_platform_tests.conftest import BIKE_SPEC as DEFAULT_SPEC_PATH

WEEK = (pd.Timestamp("2011-01-31"), pd.Timestamp("2011-02-07"))


def base_spec() -> dict:
    return yaml.safe_load(DEFAULT_SPEC_PATH.read_text())


def test_bike_spec_roles(spec: DatasetSpec) -> None:
    assert spec.datetime_column == "dteday" and spec.target == "cnt"
    assert len(spec.features) == 11 and len(spec.categorical_features) == 7
    # casual and registered add up to the target: they must never be features
    assert not {"casual", "registered", "cnt", "dteday", "instant"} & set(spec.features)
    assert spec.monitored_columns == ["weathersit", "temp", "atemp", "hum", "windspeed"]
    assert spec.reference_window == (pd.Timestamp("2011-01-01"), pd.Timestamp("2011-01-29"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("target"), "missing required key `target`"),
        (lambda s: s.update(numerical_features=["temp", "nope"]), "not declared in `columns`: ['nope']"),
        (lambda s: s.update(categorical_features=["temp"]), "both numerical and categorical: ['temp']"),
        (lambda s: s.update(numerical_features=["casual", "cnt"]), "['cnt'] cannot be a feature"),
        (lambda s: s["columns"].update(temp="decimal"), "`columns.temp`: Input should be 'int', 'float', 'str'"),
        (lambda s: s.update(first_week="2011-01-24"), "must come after the reference window's end"),
        (lambda s: s.update(first_week="someday"), "`first_week`: Input should be a valid date"),
        (lambda s: s.update(reference_window={"start": "2011-01-28", "end": "2011-01-01"}), "ends (2011-01-01) before"),
        (lambda s: s.update(max_missing_share=2), "`max_missing_share`: Input should be less than or equal to 1"),
        (lambda s: s.update(drift_columns=["instant"]), "`drift_columns` must be features"),
        (lambda s: s.update(colums={}), "unknown key `colums`"),
        (lambda s: s["columns"].update({"bad name": "int"}), "column 'bad name' is not a valid identifier"),
    ],
)
def test_invalid_spec_is_refused_with_reason(change, message: str) -> None:
    raw = base_spec()
    change(raw)
    with pytest.raises(DatasetSpecError) as excinfo:
        DatasetSpec.from_dict(raw)
    assert message in str(excinfo.value)


def test_spec_keeps_the_first_week_key_of_earlier_specs(spec: DatasetSpec) -> None:
    raw = base_spec()
    assert "first_week" in raw  # the shipped spec is in the earlier format
    assert DatasetSpec.from_dict(raw).first_period == spec.first_period
    raw["first_period"] = raw.pop("first_week")
    assert DatasetSpec.from_dict(raw) == spec


def test_column_types_have_one_owner() -> None:
    """The contract, the warehouse and the COPY paths all read COLUMN_TYPES: every spec type maps everywhere."""
    import pyarrow as pa
    import sqlalchemy as sa

    from drift_platform.core.intake.dataset import COLUMN_TYPES, arrow_type, pandas_dtype, sql_type

    assert set(COLUMN_TYPES) == {"int", "float", "str", "bool", "datetime"}
    assert isinstance(sql_type("int"), sa.BigInteger) and isinstance(sql_type("float"), sa.Float)
    assert arrow_type("datetime") == pa.timestamp("us") and arrow_type("str") == pa.string()
    assert pandas_dtype("int", has_missing=True) == "Int64" and pandas_dtype("int", has_missing=False) == "int64"


def test_spec_file_that_is_not_yaml(tmp_path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(DatasetSpecError, match="is not valid YAML"):
        DatasetSpec.from_yaml(path)


def week_frame(source_frame: pd.DataFrame) -> pd.DataFrame:
    when = source_frame["dteday"]
    return source_frame[(when >= WEEK[0]) & (when < WEEK[1])].astype(str).reset_index(drop=True)


def test_conform_types_a_clean_week(spec, source_frame) -> None:
    frame = conform(week_frame(source_frame), spec, window=WEEK)
    assert len(frame) == 7
    assert str(frame["dteday"].dtype) == "datetime64[ns]"
    assert str(frame["temp"].dtype) == "float64" and str(frame["cnt"].dtype) == "int64"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["hum"]), "missing required column(s) ['hum']"),
        (lambda f: f.assign(temp=["warm", *f["temp"][1:]]), "column 'temp' must be float: non-numeric value in 1 row(s)"),
        (lambda f: f.assign(dteday=["not a date", *f["dteday"][1:]]), "column 'dteday': unparseable datetime"),
        (lambda f: f.assign(dteday=[f["dteday"][0]] * len(f)), "duplicate datetimes in 7 row(s)"),
        (lambda f: f.assign(cnt=["-5", *f["cnt"][1:]]), "target 'cnt' must be non-negative: 1 row(s)"),
        (lambda f: f.assign(dteday=["2011-03-01", *f["dteday"][1:]]), "outside the window [2011-01-31, 2011-02-07)"),
        (lambda f: f.assign(season=["1.5", *f["season"][1:]]), "column 'season' must be int: fractional value"),
    ],
)
def test_contract_violation_names_rule_column_and_rows(spec, source_frame, mutate, message: str) -> None:
    with pytest.raises(DataContractError) as excinfo:
        conform(mutate(week_frame(source_frame)), spec, window=WEEK)
    assert message in str(excinfo.value)


def test_source_errors_say_what_is_wrong(tmp_path, spec) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        load_window(str(tmp_path / "missing.csv"), spec, *WEEK)
    with pytest.raises(SourceError, match="not UTF-8"):
        parse_csv(b"a,b\n\xff\xfe,1\n", "x.csv")
    with pytest.raises(SourceError, match="HTML page"):
        parse_csv(b"<!DOCTYPE html><html><body>502</body></html>", "x.csv")
    with pytest.raises(SourceError, match="looks truncated"):
        parse_csv(b"a,b,c\n1,2,3\n4,5", "x.csv")
    with pytest.raises(SourceError, match="scheme 'ftp' is not supported"):
        load_window("ftp://example.com/x.csv", spec, *WEEK)


def test_empty_week_is_an_error(spec) -> None:
    from drift_platform_tests.conftest import BIKE_SOURCE as DEFAULT_SOURCE_PATH

    with pytest.raises(DataContractError, match="the period is empty"):
        load_window(str(DEFAULT_SOURCE_PATH), spec, pd.Timestamp("2015-01-05"), pd.Timestamp("2015-01-12"))


@pytest.mark.parametrize("name", ["history\n", "1abc", "a-b", "history; drop table x", "", "x" * 64])
def test_identifiers_are_validated(name: str) -> None:
    from drift_platform.core.intake.dataset import validate_identifier

    with pytest.raises(DatasetSpecError, match="is not a valid identifier"):
        validate_identifier(name, "table")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(key_columns=["nope"]), "`key_columns` names columns not declared in `columns`: ['nope']"),
        (lambda s: s.update(key_columns=["instant", "instant"]), "`key_columns` repeats a column"),
        (lambda s: s.update(source_names={"nope": "Nope"}), "`source_names` names columns not declared"),
        (lambda s: s.update(source_names={"temp": "hum"}), "maps a column onto another declared column's name: ['hum']"),
        (lambda s: s.update(source_names={"temp": "T", "atemp": "T"}), "a different, non-empty source name"),
    ],
)
def test_invalid_event_keys_are_refused_with_reason(change, message: str) -> None:
    raw = base_spec()
    change(raw)
    with pytest.raises(DatasetSpecError) as excinfo:
        DatasetSpec.from_dict(raw)
    assert message in str(excinfo.value)


def test_a_spec_without_key_columns_keys_rows_by_time(spec: DatasetSpec) -> None:
    assert spec.key_columns == [] and spec.key == ["dteday"] and spec.layout.key == ("dteday",)


def triage_spec(**logged) -> dict:
    """The shipped multiclass sample's spec with logged prediction columns declared."""
    raw = yaml.safe_load((DEFAULT_SPEC_PATH.parent / "triage.yaml").read_text())
    target = raw["target"]
    raw["columns"].update({"predicted": raw["columns"][target], **{f"p_{c}": "float" for c in "abcd"}})
    raw.update(logged)
    return raw


@pytest.mark.parametrize(("logged", "message"), [
    ({"prediction_column": "nowhere"}, "not declared in `columns`"),
    ({"prediction_column": "p_a"}, "must be declared as"),
    ({"prediction_column": "predicted", "probability_columns": {"x": "p_a"}}, "classes not in `classes`"),
    ({"prediction_column": "predicted", "probability_columns": {}}, "needs every class's column"),
    ({"probability_columns": {"x": "p_a"}}, "needs `prediction_column`"),
])
def test_logged_prediction_columns_are_checked_when_the_spec_loads(logged: dict, message: str) -> None:
    with pytest.raises((DatasetSpecError, ValueError), match=message):
        DatasetSpec.from_dict(triage_spec(**logged))


def test_a_multiclass_spec_names_each_class_probability() -> None:
    raw = triage_spec()
    classes = DatasetSpec.from_dict(raw).known_classes
    spec = DatasetSpec.from_dict({**raw, "prediction_column": "predicted",
                                  "probability_columns": dict(zip(classes, ["p_a", "p_b", "p_c", "p_d"], strict=True))})
    assert sorted(spec.probability_columns.values()) == ["p_a", "p_b", "p_c", "p_d"]
