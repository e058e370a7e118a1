"""The contract on Arrow (`arrow_contract.conform_table`) gives `contract.conform`'s frame, and for each rule it
breaks, `conform`'s message: on the shipped samples' periods, broken one rule at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from drift_platform.core.intake.arrow_contract import conform_table
from drift_platform.core.intake.contract import conform
from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.intake.source import load_window
from drift_platform_tests.conftest import REPO
from drift_platform_tests.test_csv_arrow import outcome

DATA = REPO / "data"


@dataclass
class Sample:
    """A shipped sample's spec and one period of it, conformed by the pandas path."""

    spec: DatasetSpec
    window: tuple[pd.Timestamp, pd.Timestamp]
    frame: pd.DataFrame


def sample(name: str, source: str, start: str, days: int = 7, **spec_changes) -> Sample:
    """The period as the shipped spec reads it, with the spec `spec_changes` make."""
    raw = yaml.safe_load((DATA / f"{name}.yaml").read_text())
    window = (pd.Timestamp(start), pd.Timestamp(start) + pd.Timedelta(days=days))
    frame = load_window(str(DATA / source), DatasetSpec.from_dict(raw), *window)[0]
    return Sample(DatasetSpec.from_dict({**raw, **spec_changes}), window, frame)


@pytest.fixture(scope="module")
def samples() -> dict[str, Sample]:
    triage = yaml.safe_load((DATA / "triage.yaml").read_text())
    logged = {"predicted": "str", **{f"p_{c}": "float" for c in ("account", "billing", "bug", "how_to")}}
    found = {
        "bike": sample("bike_sharing", "bike_sharing_day.csv", "2011-02-07"),
        "leads": sample("lead_scoring", "lead_scoring_leads.csv", "2024-04-29"),
        "churn": sample("churn", "churn_snapshots.csv", "2023-02-13"),
        "triage": sample(
            "triage",
            "triage_tickets.csv",
            "2024-02-12",
            columns={**triage["columns"], **logged},
            prediction_column="predicted",
            probability_columns={c: f"p_{c}" for c in ("account", "billing", "bug", "how_to")},
        ),
        "triage, classes from the reference": sample(
            "triage", "triage_tickets.csv", "2024-02-12", classes=None
        ),
    }
    found["triage"].frame = found["triage"].frame.assign(
        predicted=found["triage"].frame["category"], p_account=0.25, p_billing=0.25, p_bug=0.25, p_how_to=0.25
    )
    return found


def setting(
    column: str, values: list, dtype: str | type | None = None
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The first rows of `column` set to `values` (the column first made `dtype`, when given)."""

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if dtype is not None:
            frame[column] = frame[column].astype(dtype)
        frame.loc[frame.index[: len(values)], column] = values
        return frame

    return edit


@dataclass
class Case:
    name: str
    sample: str
    edit: Callable[[pd.DataFrame], pd.DataFrame] = lambda frame: frame
    fails: str | None = None  # a part of conform's message; None: the frame is returned
    options: dict = field(default_factory=dict)
    on_arrow: bool = True  # a frame returned without contract.conform (not for a table in other types)


CASES = [
    Case("clean", "bike"),
    Case("rows out of order", "bike", lambda f: f.iloc[::-1]),
    Case("a missing datetime", "bike", setting("dteday", [pd.NaT]), "missing datetime in 1 row(s)"),
    Case(
        "a duplicate datetime", "bike", setting("dteday", [pd.Timestamp("2011-02-08")]), "duplicate datetimes"
    ),
    Case("a datetime outside", "bike", setting("dteday", [pd.Timestamp("2011-03-01")]), "outside the window"),
    Case("too many missing", "bike", setting("windspeed", [np.nan, np.nan]), "2 of 7 values missing"),
    Case("one missing int within the share", "bike", setting("season", [pd.NA], "Int64")),
    Case("a negative target", "bike", setting("cnt", [-5]), "must be non-negative"),
    Case("numbers as text", "bike", lambda f: f.assign(temp=f["temp"].astype(str)), on_arrow=False),
    Case(
        "text that is no number", "bike", setting("temp", ["warm"], str), "must be float: non-numeric value"
    ),
    Case(
        "datetimes with a timezone",
        "bike",
        lambda f: f.assign(dteday=f["dteday"].dt.tz_localize("Europe/Paris")),
        options={"timezone": "Europe/Paris"},
        on_arrow=False,
    ),
    Case("the target withheld", "bike", lambda f: f.drop(columns=["cnt"]), options={"withhold_target": True}),
    Case(
        "a declared column absent",
        "bike",
        lambda f: f.drop(columns=["hum"]),
        "missing required column(s) ['hum']",
    ),
    Case("clean, an external model's outputs", "leads"),
    Case(
        "a missing prediction",
        "leads",
        setting("predicted_converted", [pd.NA], "Int64"),
        "missing or infinite",
    ),
    Case(
        "an infinite probability", "leads", setting("conversion_probability", [np.inf]), "missing or infinite"
    ),
    Case(
        "a probability above 1",
        "leads",
        setting("conversion_probability", [1.2]),
        "must hold values in [0, 1]",
    ),
    Case("an unknown label", "leads", setting("converted", [2]), "label(s) [2] outside the known classes"),
    Case(
        "an unknown predicted class", "leads", setting("predicted_converted", [3]), "predicted class(es) [3]"
    ),
    Case("clean, a two-column key", "churn"),
    Case(
        "a repeated two-column key",
        "churn",
        lambda f: f.assign(customer_id=f["customer_id"].iloc[0]).iloc[:2],
        "duplicate key ('customer_id', 'snapshot_date') in 2 row(s)",
    ),
    Case("clean, every class's probability", "triage"),
    Case("probabilities within the tolerance", "triage", setting("p_bug", [0.2505])),
    Case(
        "probabilities that do not sum to 1", "triage", setting("p_bug", [0.3]), "must sum to 1 in every row"
    ),
    Case(
        "a label outside the reference's classes",
        "triage, classes from the reference",
        setting("category", ["spam"]),
        "label(s) ['spam'] outside the known classes",
        {"classes": ["account", "billing", "bug", "how_to"]},
    ),
]


def test_every_rule_gives_conforms_frame_or_its_message(samples: dict[str, Sample], monkeypatch) -> None:
    from drift_platform.core.intake import contract

    fell_back = []
    monkeypatch.setattr(
        contract, "conform", lambda *args, **kwargs: fell_back.append(1) or conform(*args, **kwargs)
    )
    for case in CASES:
        fell_back.clear()
        chosen = samples[case.sample]
        table = pa.Table.from_pandas(case.edit(chosen.frame))
        options = {"window": chosen.window, **case.options}
        expected = outcome(lambda: conform(table.to_pandas(), chosen.spec, **options))  # noqa: B023
        got = outcome(lambda: conform_table(table, chosen.spec, **options))  # noqa: B023
        if case.fails is None:
            assert expected[0] == got[0] == "ok", (case.name, expected, got)
            pd.testing.assert_frame_equal(got[1], expected[1], check_exact=True)
            assert bool(fell_back) is not case.on_arrow, case.name
        else:
            assert got == expected and case.fails in got[1], (case.name, expected, got)


def test_an_int_column_with_missing_values_is_int64_and_rows_come_sorted(samples: dict[str, Sample]) -> None:
    bike = samples["bike"]
    table = pa.Table.from_pandas(setting("season", [pd.NA], "Int64")(bike.frame).iloc[::-1])
    frame = conform_table(table, bike.spec, window=bike.window)
    assert str(frame["season"].dtype) == "Int64" and str(frame["cnt"].dtype) == "int64"
    assert frame["dteday"].is_monotonic_increasing and list(frame.index) == list(range(7))


def test_the_window_must_hold_rows_and_at_most_max_rows(samples: dict[str, Sample]) -> None:
    from drift_platform.core.intake.contract import DataContractError

    bike = samples["bike"]
    with pytest.raises(
        DataContractError, match=r"no rows with 'dteday' in \[2011-02-07 00:00, 2011-02-14 00:00\)"
    ):
        conform_table(pa.Table.from_pandas(bike.frame.iloc[:0]), bike.spec, window=bike.window)
    capped = bike.spec.model_copy(update={"max_rows": 5})
    with pytest.raises(DataContractError, match="7 rows in the window exceed the cap max_rows=5"):
        conform_table(pa.Table.from_pandas(bike.frame), capped, window=bike.window)
    assert len(conform_table(pa.Table.from_pandas(bike.frame), capped)) == 7  # no window: no cap (as conform)
