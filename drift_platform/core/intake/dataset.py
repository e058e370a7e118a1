"""The dataset spec: which column is what, read from YAML, and the one owner of what each column type means.

Nothing in the platform knows about bikes: the roles of the columns (datetime, target, numerical and
categorical features, ignored columns), their types, the reference window and the first period all come from
a spec (a YAML file, or the same mapping inline in a monitor's defs.yaml). The spec is a pydantic model: a
wrong key, a wrong type or an inconsistent role is refused with the key named. Plain Python, no pandas and no
Dagster: the code location reads specs when it loads, so this module must be cheap to import. The data
contract the spec implies is in `contract.py`.

`COLUMN_TYPES` is the one place that says what a spec type is in pandas, in SQL and in Arrow; the contract,
the warehouse and its COPY paths all ask it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

ColumnType = Literal["int", "float", "str", "bool", "datetime"]
Task = Literal["regression", "binary", "multiclass"]
ClassLabel = int | bool | str
# The target types of each kind of task: a classifier's labels are ints, bools (0/1 in the warehouse) or strings.
TARGET_TYPES = {"regression": ("int", "float"), "binary": ("int", "bool", "str"), "multiclass": ("int", "bool", "str")}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class TypeMapping:
    """What one spec type is elsewhere: pandas dtypes (without and with missing values), SQLAlchemy, Arrow."""

    pandas: str
    pandas_nullable: str
    sql: str  # a sqlalchemy type name
    arrow: str  # a pyarrow type alias


COLUMN_TYPES: Mapping[str, TypeMapping] = {
    "int": TypeMapping("int64", "Int64", "BigInteger", "int64"),
    "bool": TypeMapping("int64", "Int64", "SmallInteger", "int64"),  # 0/1, as the sources write it
    "float": TypeMapping("float64", "float64", "Float", "float64"),
    "str": TypeMapping("object", "object", "Text", "string"),
    "datetime": TypeMapping("datetime64[ns]", "datetime64[ns]", "DateTime", "timestamp[us]"),
}
NUMERIC_TYPES = ("int", "float", "bool")


def sql_type(typ: str):
    """The SQLAlchemy column type of a spec type."""
    import sqlalchemy as sa

    kind = getattr(sa, COLUMN_TYPES[typ].sql)
    return kind(precision=53) if kind is sa.Float else kind()


def arrow_type(typ: str):
    """The pyarrow type of a spec type."""
    import pyarrow as pa

    return pa.type_for_alias(COLUMN_TYPES[typ].arrow)


def pandas_dtype(typ: str, has_missing: bool) -> str:
    mapping = COLUMN_TYPES[typ]
    return mapping.pandas_nullable if has_missing else mapping.pandas


class DatasetSpecError(ValueError):
    """The spec itself is invalid."""


def validate_identifier(name: str, what: str) -> str:
    """Names that end up in SQL (tables, schemas, columns) must be plain identifiers."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise DatasetSpecError(
            f"{what} {name!r} is not a valid identifier: use letters, digits and underscores, "
            "starting with a letter or underscore, at most 63 characters"
        )
    return name


@dataclass(frozen=True)
class TableLayout:
    """A warehouse table's columns (name -> spec type, in order), its time column (periods are windows of it)
    and the columns that identify a row (its primary key; the time column alone unless given)."""

    columns: Mapping[str, str]
    time_column: str
    key_columns: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        return self.key_columns or (self.time_column,)


class DateWindow(BaseModel):
    """An inclusive range of days, e.g. the reference window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: dt.date = Field(description="First day of the window")
    end: dt.date = Field(description="Last day of the window (inclusive)")

    @model_validator(mode="after")
    def _ordered(self) -> DateWindow:
        if self.end < self.start:
            raise ValueError(f"reference_window ends ({self.end}) before it starts ({self.start})")
        return self


class DatasetSpec(BaseModel):
    """The roles and types of a dataset's columns, the reference window and the first monitored period."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(description="Dataset name (an identifier)")
    description: str = Field(default="", description="What the data is")
    datetime_column: str = Field(description="The column that places a row in time (type datetime)")
    target: str = Field(description="The label the model predicts: int or float for regression; int, bool or str "
                        "for classification")
    task: Task = Field(default="regression", description="What the model predicts: regression (a number), binary "
                       "or multiclass (a class)")
    classes: list[ClassLabel] | None = Field(
        default=None, description="Classification: the known classes; unset = the labels of the reference window",
    )
    positive_class: ClassLabel | None = Field(
        default=None, description="Binary: the class whose probability roc_auc, f1 and brier score (default: the "
        "larger of the two sorted classes, e.g. 1, true, 'yes')",
    )
    unknown_class: Literal["reject", "admit"] = Field(
        default="reject", description="Classification: a label outside the known classes is a contract error "
        "naming the rows (reject), or kept as a new class and reported (admit)",
    )
    columns: dict[str, ColumnType] = Field(description="Every column of the source and its type")
    prediction_column: str | None = Field(
        default=None, description="An external model (the monitor's `model: {source: external}`): the declared "
        "column of its logged prediction (float for regression; the target's type, a class, for classification)",
    )
    probability_columns: dict[ClassLabel, str] | None = Field(
        default=None, description="An external classifier: class -> the declared float column of its logged "
        "probability; every class for multiclass, the positive class's (or both) for binary",
    )
    numerical_features: list[str] = Field(default_factory=list, description="Numerical model inputs")
    categorical_features: list[str] = Field(default_factory=list, description="Categorical model inputs")
    ignored: list[str] = Field(default_factory=list, description="Declared columns that are neither features nor target")
    drift_columns: list[str] = Field(
        default_factory=list, description="Features whose drift is watched; empty = every feature"
    )
    key_columns: list[str] = Field(
        default_factory=list,
        description="Declared columns that identify a row (an id, or entity + time); empty = the datetime column, "
        "one row per timestamp",
    )
    source_names: dict[str, str] = Field(
        default_factory=dict,
        description="A column's name in the source when it is not the identifier declared in `columns` "
        "(identifier -> any string, e.g. home_team: 'Home Team')",
    )
    datetime_format: str | None = Field(
        default=None,
        description="How the datetime column is written when not ISO 8601: a strptime format (e.g. '%d/%m/%Y') or "
        "epoch_seconds / epoch_milliseconds; never guessed",
    )
    reference_dates: DateWindow = Field(
        validation_alias=AliasChoices("reference_window", "reference_dates"),
        description="The baseline: first and last day (inclusive) of the reference window",
    )
    first_period: dt.date = Field(
        validation_alias=AliasChoices("first_period", "first_week"),
        description="The first monitored period (a Monday for weekly monitors); after the reference window",
    )
    target_nonnegative: bool = Field(default=True, description="Regression: refuse negative targets")
    max_rows: int = Field(default=5_000_000, ge=1, description="Most rows a period (or the reference) may have")
    max_missing_share: float = Field(
        default=0.2, ge=0, le=1, description="Most share of a feature's or the target's values that may be missing"
    )

    @model_validator(mode="after")
    def _roles(self) -> DatasetSpec:  # noqa: C901 - one rule after another, each with its own message
        validate_identifier(self.name, "dataset name")
        columns = self.columns
        for column in columns:
            validate_identifier(column, "column")
        if not columns:
            raise ValueError("`columns` must map each column name to one of " + ", ".join(COLUMN_TYPES))
        for key in ("numerical_features", "categorical_features", "ignored", "drift_columns", "key_columns"):
            undeclared = [c for c in getattr(self, key) if c not in columns]
            if undeclared:
                raise ValueError(f"`{key}` names columns not declared in `columns`: {undeclared}")
        if columns.get(self.datetime_column) != "datetime":
            raise ValueError(f"datetime_column {self.datetime_column!r} must be declared in `columns` with type datetime")
        allowed = TARGET_TYPES[self.task]
        if columns.get(self.target) not in allowed:
            raise ValueError(f"target {self.target!r} must be declared in `columns` as {' or '.join(allowed)} for "
                             f"task {self.task}")
        self._check_classes()
        self._check_logged_predictions()
        numerical, categorical = self.numerical_features, self.categorical_features
        if not numerical and not categorical:
            raise ValueError("at least one numerical or categorical feature is required")
        overlap = set(numerical) & set(categorical)
        if overlap:
            raise ValueError(f"columns are both numerical and categorical: {sorted(overlap)}")
        for role, names in (("a feature", numerical + categorical), ("ignored", self.ignored)):
            clash = {self.datetime_column, self.target} & set(names)
            if clash:
                raise ValueError(f"{sorted(clash)} cannot be {role}: it is the datetime column or target")
        not_features = sorted(set(self.drift_columns) - set(numerical) - set(categorical))
        if not_features:
            raise ValueError(f"`drift_columns` must be features; these are not: {not_features}")
        if len(set(self.key_columns)) != len(self.key_columns):
            raise ValueError(f"`key_columns` repeats a column: {self.key_columns}")
        unknown = sorted(set(self.source_names) - set(columns))
        if unknown:
            raise ValueError(f"`source_names` names columns not declared in `columns`: {unknown}")
        sources = [name for name in self.source_names.values() if name]
        if len(sources) != len(self.source_names) or len(set(self.source_names.values())) != len(sources):
            raise ValueError("`source_names` must give each column a different, non-empty source name")
        clash = sorted(set(sources) & (set(columns) - set(self.source_names)))
        if clash:
            raise ValueError(f"`source_names` maps a column onto another declared column's name: {clash}")
        non_numeric = [c for c in numerical if columns[c] not in NUMERIC_TYPES]
        if non_numeric:
            raise ValueError(f"numerical features must be int or float: {non_numeric}")
        if self.first_period <= self.reference_dates.end:
            raise ValueError(
                f"first_period {self.first_period} must come after the reference window's end {self.reference_dates.end}"
            )
        return self

    def _check_classes(self) -> None:
        """The classification keys: only for a classifier, the classes distinct and enough for the task, the
        positive class one of them."""
        if self.task == "regression":
            given = [k for k in ("classes", "positive_class") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"`{given[0]}` is for classification; task is regression (set `task: binary` or "
                                 "`task: multiclass`)")
            return
        if self.task == "multiclass" and self.positive_class is not None:
            raise ValueError("`positive_class` is for task binary; this spec's task is multiclass")
        given = [*(self.classes or []), *([self.positive_class] if self.positive_class is not None else [])]
        if self.columns[self.target] == "str" and any(isinstance(c, bool) for c in given):
            raise ValueError(f"`classes`/`positive_class` hold a boolean {given} for a str target: YAML reads "
                             "unquoted yes, no, true, false, on, off as booleans; quote them (e.g. 'yes')")
        classes = self.known_classes
        if classes is None:
            return
        if len(set(classes)) != len(classes):
            raise ValueError(f"`classes` repeats a class (as the target's type {self.columns[self.target]} reads "
                             f"them): {list(self.classes)}")
        wanted = "exactly 2" if self.task == "binary" else "at least 3"
        if (len(classes) != 2) if self.task == "binary" else (len(classes) < 3):
            raise ValueError(f"`classes` must hold {wanted} classes for task {self.task}, got {list(self.classes)}")
        names = [proba_name(c) for c in classes]
        if len(set(names)) != len(names):
            raise ValueError(f"`classes` {list(self.classes)} give the same probability column name twice: {names}")
        if self.positive_class is not None and self.label(self.positive_class) not in classes:
            raise ValueError(f"`positive_class` {self.positive_class!r} is not one of `classes` {list(self.classes)}")

    def _check_logged_predictions(self) -> None:
        """`prediction_column` and `probability_columns`: declared columns of the right type, none of them a
        feature, the target, the datetime or a key column; probabilities only for a classifier."""
        logged = {self.prediction_column} if self.prediction_column else set()
        if self.probability_columns is not None:
            if not self.is_classifier:
                raise ValueError("`probability_columns` is for classification; task is regression")
            if not self.prediction_column:
                raise ValueError("`probability_columns` needs `prediction_column` (the logged predicted class)")
            wrong = [c for c in self.probability_columns.values() if self.columns.get(c) != "float"]
            if wrong:
                raise ValueError(f"`probability_columns` must be declared in `columns` as float: {wrong}")
            self._check_probability_classes()
            logged |= set(self.probability_columns.values())
        if not logged:
            return
        undeclared = sorted(c for c in logged if c not in self.columns)
        if undeclared:
            raise ValueError(f"`prediction_column` / `probability_columns` name columns not declared in `columns`: "
                             f"{undeclared}")
        wanted = (self.columns[self.target],) if self.is_classifier else NUMERIC_TYPES
        if self.columns[self.prediction_column] not in wanted:
            raise ValueError(f"prediction_column {self.prediction_column!r} must be declared as "
                             f"{' or '.join(wanted)} (as the target for a classifier)")
        roles = {*self.features, self.target, self.datetime_column, *self.key_columns}
        clash = sorted(logged & roles)
        if clash:
            raise ValueError(f"logged prediction columns {clash} cannot also be a feature, the target, the datetime "
                             "or a key column")

    def _check_probability_classes(self) -> None:
        """`probability_columns`' classes: binary, the positive class's column or both classes'; multiclass, every
        class's (of `classes` when given), each column once."""
        given = [self.label(c) for c in self.probability_columns]
        columns = list(self.probability_columns.values())
        if len(set(columns)) != len(columns):
            raise ValueError(f"`probability_columns` names a column twice: {columns}")
        known = self.known_classes
        unknown = sorted(c for c in given if known is not None and c not in known)
        if unknown:
            raise ValueError(f"`probability_columns` names classes not in `classes` {known}: {unknown}")
        if self.task == "binary" and len(given) not in (1, 2):
            raise ValueError(f"`probability_columns` of a binary task: the positive class's column, or both "
                             f"classes', got {len(given)}")
        if self.task == "multiclass" and (len(given) < 3 or (known is not None and sorted(given) != known)):
            raise ValueError(f"`probability_columns` of a multiclass task needs every class's column: got "
                             f"{sorted(given, key=str)}, classes {known or 'from the reference (at least 3)'}")
        if self.task == "binary" and len(given) == 1 and known is not None:
            positive = positive_of(known, None if self.positive_class is None else self.label(self.positive_class))
            if given[0] != positive:
                raise ValueError(f"`probability_columns` of a binary task with one column must give the positive "
                                 f"class's ({positive!r}), got class {given[0]!r}")

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    def label(self, value: Any) -> Any:
        """A class as the target column holds it: an int for int and bool targets (true = 1), else a string."""
        if self.columns[self.target] == "str":
            return str(value).lower() if isinstance(value, bool) else str(value)
        return int(value)

    @property
    def known_classes(self) -> list[Any] | None:
        """`classes` as the target column holds them (sorted), or None when the reference gives them."""
        if self.classes is None:
            return None
        return sorted(self.label(c) for c in self.classes)

    @property
    def features(self) -> list[str]:
        return [*self.numerical_features, *self.categorical_features]

    @property
    def monitored_columns(self) -> list[str]:
        """Columns whose drift is measured: `drift_columns` if given, every feature otherwise."""
        return list(self.drift_columns) or self.features

    @property
    def reference_window(self) -> tuple[dt.datetime, dt.datetime]:
        """Half-open [start, end) window; the spec's end date is inclusive."""
        start = dt.datetime.combine(self.reference_dates.start, dt.time())
        return start, dt.datetime.combine(self.reference_dates.end, dt.time()) + dt.timedelta(days=1)

    @property
    def key(self) -> list[str]:
        """The columns that identify a row: `key_columns`, else the datetime column."""
        return list(self.key_columns) or [self.datetime_column]

    def source_name(self, column: str) -> str:
        """The column's name in the source (its identifier unless `source_names` says otherwise)."""
        return self.source_names.get(column) or column

    def described(self, column: str) -> str:
        """A column as messages name it: its identifier, and its source name when that differs."""
        source = self.source_name(column)
        return repr(column) if source == column else f"{column!r} (source {source!r})"

    @property
    def layout(self) -> TableLayout:
        return TableLayout(columns=dict(self.columns), time_column=self.datetime_column,
                           key_columns=tuple(self.key_columns))

    @classmethod
    def from_yaml(cls, path: str | Path) -> DatasetSpec:
        import yaml

        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise DatasetSpecError(f"dataset spec {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise DatasetSpecError(f"dataset spec {path} is not valid YAML: {exc}") from None
        try:
            return cls.from_dict(raw)
        except DatasetSpecError as exc:
            raise DatasetSpecError(f"dataset spec {path}: {exc}") from None

    @classmethod
    def from_dict(cls, raw: Any) -> DatasetSpec:
        if not isinstance(raw, dict):
            raise DatasetSpecError("the spec must be a mapping of keys to values")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise DatasetSpecError(describe_errors(exc)) from None


def proba_name(label: Any) -> str:
    """The predictions table's column of a class's probability: `proba_<class>`, the class in [a-z0-9_]."""
    return "proba_" + re.sub(r"[^a-z0-9_]", "_", str(label).lower())


def positive_of(classes: list[Any], positive: Any = None) -> Any:
    """The positive class of a binary task: `positive` if given, else the larger of the two sorted classes."""
    return positive if positive is not None else sorted(classes)[-1]


def describe_errors(exc: ValidationError) -> str:
    """pydantic's errors as one line each, naming the key: unknown keys, missing keys, bad values."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown key `{where}`")
        elif error["type"] == "missing":
            lines.append(f"missing required key `{where}`")
        elif where:
            lines.append(f"`{where}`: {error['msg']} (got {error.get('input')!r})")
        else:
            lines.append(str(error["msg"]).removeprefix("Value error, "))
    return "; ".join(lines)
