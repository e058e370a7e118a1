"""The dataset spec: which column is what, read from a YAML file, and the data contract it implies.

Nothing in the platform knows about bikes: the roles of the columns (datetime, target, numerical and
categorical features, ignored columns), their types, the reference window and the first week all come from
a spec file. Plain Python (PyYAML), no pandas and no Dagster: the code location reads the spec at load time, so it must
be cheap to import. The data contract the spec implies is in `contract.py`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COLUMN_TYPES = ("int", "float", "str", "bool", "datetime")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class DatasetSpecError(ValueError):
    """The spec file itself is invalid."""


def validate_identifier(name: str, what: str) -> str:
    """Names that end up in SQL (tables, schemas, columns) must be plain identifiers."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise DatasetSpecError(
            f"{what} {name!r} is not a valid identifier: use letters, digits and underscores, "
            "starting with a letter or underscore, at most 63 characters"
        )
    return name


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    datetime_column: str
    target: str
    columns: Mapping[str, str]
    numerical_features: Sequence[str]
    categorical_features: Sequence[str]
    ignored: Sequence[str] = ()
    drift_columns: Sequence[str] = ()
    reference_start: dt.date = dt.date(2011, 1, 1)
    reference_end: dt.date = dt.date(2011, 1, 28)
    first_week: dt.date = dt.date(2011, 1, 31)
    target_nonnegative: bool = True
    max_rows: int = 5_000_000
    max_missing_share: float = 0.2
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

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
        start = dt.datetime.combine(self.reference_start, dt.time())
        return start, dt.datetime.combine(self.reference_end, dt.time()) + dt.timedelta(days=1)

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
        known = {
            "name", "description", "datetime_column", "target", "columns", "numerical_features",
            "categorical_features", "ignored", "drift_columns", "reference_window", "first_week",
            "target_nonnegative", "max_rows", "max_missing_share",
        }  # fmt: skip
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DatasetSpecError(f"unknown keys {unknown}; known keys are {sorted(known)}")
        missing = sorted(k for k in ("name", "datetime_column", "target", "columns") if k not in raw)
        if missing:
            raise DatasetSpecError(f"required keys missing: {missing}")

        columns = raw["columns"]
        if not isinstance(columns, dict) or not columns:
            raise DatasetSpecError("`columns` must map each column name to one of " + ", ".join(COLUMN_TYPES))
        for col, typ in columns.items():
            validate_identifier(col, "column")
            if typ not in COLUMN_TYPES:
                raise DatasetSpecError(f"column {col!r} has type {typ!r}; expected one of {list(COLUMN_TYPES)}")

        def names(key: str) -> list[str]:
            value = raw.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DatasetSpecError(f"`{key}` must be a list of column names")
            undeclared = [v for v in value if v not in columns]
            if undeclared:
                raise DatasetSpecError(f"`{key}` names columns not declared in `columns`: {undeclared}")
            return value

        numerical, categorical = names("numerical_features"), names("categorical_features")
        ignored, drift_columns = names("ignored"), names("drift_columns")
        dt_col, target = raw["datetime_column"], raw["target"]
        if columns.get(dt_col) != "datetime":
            raise DatasetSpecError(f"datetime_column {dt_col!r} must be declared in `columns` with type datetime")
        if columns.get(target) not in ("int", "float"):
            raise DatasetSpecError(f"target {target!r} must be declared in `columns` as int or float")
        if not numerical and not categorical:
            raise DatasetSpecError("at least one numerical or categorical feature is required")
        overlap = set(numerical) & set(categorical)
        if overlap:
            raise DatasetSpecError(f"columns are both numerical and categorical: {sorted(overlap)}")
        for role, cols in (("a feature", numerical + categorical), ("ignored", ignored)):
            clash = {dt_col, target} & set(cols)
            if clash:
                raise DatasetSpecError(f"{sorted(clash)} cannot be {role}: it is the datetime column or target")
        bad_drift = sorted(set(drift_columns) - set(numerical) - set(categorical))
        if bad_drift:
            raise DatasetSpecError(f"`drift_columns` must be features; these are not: {bad_drift}")
        non_numeric = [c for c in numerical if columns[c] not in ("int", "float", "bool")]
        if non_numeric:
            raise DatasetSpecError(f"numerical features must be int or float: {non_numeric}")

        window = raw.get("reference_window") or {}
        try:
            ref_start = _as_date(window.get("start", dt.date(2011, 1, 1)))
            ref_end = _as_date(window.get("end", dt.date(2011, 1, 28)))
            first_week = _as_date(raw.get("first_week", dt.date(2011, 1, 31)))
        except (TypeError, ValueError) as exc:
            raise DatasetSpecError(f"bad date in reference_window or first_week: {exc}") from None
        if ref_end < ref_start:
            raise DatasetSpecError(f"reference_window ends ({ref_end}) before it starts ({ref_start})")
        if first_week <= ref_end:
            raise DatasetSpecError(f"first_week {first_week} must come after the reference window's end {ref_end}")
        if first_week.weekday() != 0:
            raise DatasetSpecError(f"first_week {first_week} must be a Monday")
        max_rows = raw.get("max_rows", 5_000_000)
        if not isinstance(max_rows, int) or max_rows < 1:
            raise DatasetSpecError(f"max_rows must be a positive integer, got {max_rows!r}")

        max_missing = raw.get("max_missing_share", 0.2)
        if not isinstance(max_missing, int | float) or not 0 <= max_missing <= 1:
            raise DatasetSpecError(f"max_missing_share must be a number in [0, 1], got {max_missing!r}")

        return cls(
            name=validate_identifier(str(raw["name"]), "dataset name"),
            description=str(raw.get("description", "")),
            datetime_column=dt_col,
            target=target,
            columns=dict(columns),
            numerical_features=numerical,
            categorical_features=categorical,
            ignored=ignored,
            drift_columns=drift_columns,
            reference_start=ref_start,
            reference_end=ref_end,
            first_week=first_week,
            target_nonnegative=bool(raw.get("target_nonnegative", True)),
            max_rows=max_rows,
            max_missing_share=float(max_missing),
        )


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
