"""External predictions can be wrong: a source whose logged predictions break the contract (the prediction
column missing, a row without its prediction, probabilities outside [0, 1] or not summing to 1, a predicted class
outside the known classes) gets a DataContractError naming the columns and the rows, and nothing is written.

First `conform` on small frames, one rule at a time; then the real drift job of an external churn monitor (the
shipped churn sample with a simulated model's logged predictions) on a real instance and a SQLite warehouse."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from drift_platform.core.intake.contract import (
    PROBABILITY_SUM_TOLERANCE,
    DataContractError,
    conform,
    reference_labels_check,
)
from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import Monitor
from drift_platform_tests.conftest import local_resources
from drift_platform_tests.helpers import Platform, step_failure_message

# --- conform on small frames -------------------------------------------------------------------------------------
TS = [f"2024-01-08 0{h}:00" for h in range(4)]


def spec_of(task: str, probability_columns: dict | None, **changes) -> DatasetSpec:
    """A ticket-triage spec whose source logs the team's prediction `pred` and the probabilities it names."""
    target = {"regression": "float", "binary": "int", "multiclass": "str"}[task]
    columns = {"ts": "datetime", "ticket": "int", "x": "float", "level": target, "pred": target,
               **{column: "float" for column in (probability_columns or {}).values()}}
    return DatasetSpec.from_dict({
        "name": "tickets", "datetime_column": "ts", "target": "level", "task": task, "columns": columns,
        "key_columns": ["ticket", "ts"], "numerical_features": ["x"], "prediction_column": "pred",
        **({"probability_columns": probability_columns} if probability_columns else {}),
        "reference_window": {"start": "2024-01-01", "end": "2024-01-07"}, "first_period": "2024-01-08", **changes,
    })  # fmt: skip


MULTICLASS = {"low": "p_low", "mid": "p_mid", "high": "p_high"}


def multiclass_frame() -> pd.DataFrame:
    return pd.DataFrame({"ts": TS, "ticket": [11, 12, 13, 14], "x": [1.0, 2.0, 3.0, 4.0],
                         "level": ["low", "mid", "high", "low"], "pred": ["low", "mid", "high", "mid"],
                         "p_low": [0.7, 0.1, 0.1, 0.2], "p_mid": [0.2, 0.8, 0.1, 0.7], "p_high": [0.1, 0.1, 0.8, 0.1]})


def binary_frame(**columns) -> pd.DataFrame:
    frame = pd.DataFrame({"ts": TS, "ticket": [11, 12, 13, 14], "x": [1.0, 2.0, 3.0, 4.0], "level": [0, 1, 0, 1],
                          "pred": [0, 1, 0, 0], "p_yes": [0.1, 0.9, 0.2, 0.4], "p_no": [0.9, 0.1, 0.8, 0.6]})
    return frame.assign(**columns)


def contract_error(frame: pd.DataFrame, spec: DatasetSpec, **kwargs) -> str:
    with pytest.raises(DataContractError) as excinfo:
        conform(frame, spec, **kwargs)
    return str(excinfo.value)


def row(index: int, hour: int, ticket: int, **values) -> str:
    """How an example row is shown: its index, its key (ticket, ts) and the offending values."""
    shown = "".join(f", {name}={value!r}" for name, value in values.items())
    return f"row {index}: ticket={ticket}, ts=Timestamp('2024-01-08 0{hour}:00:00'){shown}"


@pytest.mark.parametrize(("task", "probabilities", "frame"), [
    ("multiclass", MULTICLASS, multiclass_frame()),
    ("binary", {1: "p_yes"}, binary_frame()),
    ("binary", {1: "p_yes", 0: "p_no"}, binary_frame()),
    ("binary", {1: "p_yes"}, binary_frame(p_no=[0.5] * 4)),  # an undeclared column: dropped, never summed
    ("regression", None, binary_frame(level=[1.5, 2.0, 0.0, 3.25], pred=[1.4, 2.2, 0.1, 2.9])),
])  # fmt: skip
def test_good_logged_predictions_pass_with_their_types(task, probabilities, frame) -> None:
    spec = spec_of(task, probabilities, classes=sorted(set(frame["level"])) if task != "regression" else None)
    out = conform(frame, spec)
    assert list(out.columns) == list(spec.columns) and len(out) == 4
    assert out["pred"].tolist() == frame["pred"].tolist()
    for column in (probabilities or {}).values():
        assert out[column].dtype == "float64" and out[column].tolist() == frame[column].tolist()


def test_a_missing_prediction_column_is_named_with_its_spec_key_and_source_name() -> None:
    spec = spec_of("binary", {1: "p_yes"}, classes=[0, 1], source_names={"pred": "Predicted class"})
    message = contract_error(binary_frame().drop(columns=["pred"]), spec)
    assert message == ("missing the external model's prediction column 'pred' (source 'Predicted class') (spec key "
                       "prediction_column); the dataset spec 'tickets' declares them")
    # under its source name the column is found
    assert len(conform(binary_frame().rename(columns={"pred": "Predicted class"}), spec)) == 4


def test_a_missing_probability_column_names_its_class_beside_other_missing_columns() -> None:
    message = contract_error(multiclass_frame().drop(columns=["p_mid", "x"]), spec_of("multiclass", MULTICLASS))
    assert message == ("missing required column(s) ['x']; missing the external model's probability column 'p_mid' "
                       "of class 'mid' (spec key probability_columns); the dataset spec 'tickets' declares them")


def test_rows_without_their_prediction_are_named() -> None:
    frame = binary_frame(pred=[0, None, 0, None])
    message = contract_error(frame, spec_of("binary", {1: "p_yes"}, classes=[0, 1]))
    assert "the external model's logged output is missing or infinite in column(s) ['pred']" in message
    assert f"2 row(s), e.g. {row(1, 1, 12, pred=pd.NA)}; {row(3, 3, 14, pred=pd.NA)}" in message
    # a probability missing, or infinite, alike
    message = contract_error(binary_frame(p_yes=[0.1, np.inf, 0.2, None]), spec_of("binary", {1: "p_yes"}))
    assert f"column(s) ['p_yes'] (spec keys prediction_column / probability_columns): 2 row(s), e.g. " \
           f"{row(1, 1, 12, p_yes=float('inf'))}; {row(3, 3, 14, p_yes=float('nan'))}" in message


def test_probabilities_outside_zero_one_are_named_with_their_columns_and_rows() -> None:
    frame = multiclass_frame().assign(p_low=[0.7, 1.2, 0.1, 0.2], p_high=[0.1, 0.1, 0.8, -0.1])
    message = contract_error(frame, spec_of("multiclass", MULTICLASS))
    assert message == (
        "probability column(s) ['p_low', 'p_high'] (spec key probability_columns) must hold values in [0, 1]: "
        f"2 row(s), e.g. {row(1, 1, 12, p_low=1.2, p_high=0.1)}; {row(3, 3, 14, p_low=0.2, p_high=-0.1)}")
    # a binary's positive column alone: the range is its only check
    message = contract_error(binary_frame(p_yes=[0.1, 1.5, 0.2, 0.4]), spec_of("binary", {1: "p_yes"}))
    assert f"['p_yes'] (spec key probability_columns) must hold values in [0, 1]: 1 row(s), e.g. " \
           f"{row(1, 1, 12, p_yes=1.5)}" in message


def test_probabilities_not_summing_to_one_are_named_with_the_sums() -> None:
    frame = multiclass_frame().assign(p_mid=[0.2, 0.5, 0.1, 0.9])
    message = contract_error(frame, spec_of("multiclass", MULTICLASS))
    assert message == (
        "probability columns ['p_low', 'p_mid', 'p_high'] (spec key probability_columns, classes ['low', 'mid', "
        "'high']) must sum to 1 in every row (within PROBABILITY_SUM_TOLERANCE 0.001): 2 row(s), e.g. "
        f"{row(1, 1, 12, **{'sum(p_low + p_mid + p_high)': 0.7})}; "
        f"{row(3, 3, 14, **{'sum(p_low + p_mid + p_high)': 1.2})}")
    # a binary with both classes' columns is summed; with the positive one alone it is not
    both, positive = spec_of("binary", {1: "p_yes", 0: "p_no"}), spec_of("binary", {1: "p_yes"})
    skewed = binary_frame(p_no=[0.9, 0.1, 0.5, 0.6])
    assert "must sum to 1 in every row" in contract_error(skewed, both)
    assert f"1 row(s), e.g. {row(2, 2, 13, **{'sum(p_yes + p_no)': 0.7})}" in contract_error(skewed, both)
    assert len(conform(skewed, positive)) == 4


def test_the_sum_tolerance_allows_rounding_only() -> None:
    spec = spec_of("multiclass", MULTICLASS)
    slack = PROBABILITY_SUM_TOLERANCE / 2
    assert len(conform(multiclass_frame().assign(p_low=[0.7 + slack, 0.1, 0.1 - slack, 0.2]), spec)) == 4
    off = multiclass_frame().assign(p_low=[0.7 + 3 * slack, 0.1, 0.1, 0.2])
    assert "1 row(s), e.g. row 0:" in contract_error(off, spec)


def test_a_predicted_class_outside_the_known_classes_follows_unknown_class() -> None:
    frame = multiclass_frame().assign(pred=["low", "urgent", "high", "mid"])
    message = contract_error(frame, spec_of("multiclass", MULTICLASS, classes=["low", "mid", "high"]))
    assert message.startswith(
        "prediction_column 'pred': predicted class(es) ['urgent'] outside the known classes ['high', 'low', 'mid'] "
        f"in 1 row(s), e.g. {row(1, 1, 12, pred='urgent')}; declare them in the spec's `classes`")
    # the reference's classes, when the spec gives none
    assert "predicted class(es) ['urgent']" in contract_error(frame, spec_of("multiclass", MULTICLASS),
                                                              classes=["high", "low", "mid"])
    admitted = conform(frame, spec_of("multiclass", MULTICLASS, classes=["low", "mid", "high"], unknown_class="admit"))
    assert admitted["pred"].tolist() == ["low", "urgent", "high", "mid"]


def test_the_history_checks_predicted_classes_against_the_references_labels() -> None:
    """Without `classes` in the spec, combined_history checks each period (and the reference's own logged
    predictions) against the reference's labels: reject names the period and the rows, admit reports them."""
    reference = conform(multiclass_frame().assign(ts=[t.replace("01-08", "01-02") for t in TS]),
                        spec_of("multiclass", MULTICLASS))
    batch = conform(multiclass_frame().assign(pred=["low", "mid", "urgent", "mid"]), spec_of("multiclass", MULTICLASS))
    with pytest.raises(DataContractError) as excinfo:
        reference_labels_check(reference, {"2024-01-08": batch}, spec_of("multiclass", MULTICLASS))
    assert str(excinfo.value).startswith("period 2024-01-08: prediction_column 'pred': predicted class(es) ['urgent'] "
                                         "outside the known classes ['high', 'low', 'mid'] in 1 row(s), e.g. row 2:")
    lines = reference_labels_check(reference, {"2024-01-08": batch},
                                   spec_of("multiclass", MULTICLASS, unknown_class="admit"))
    assert lines == ["period 2024-01-08: new predicted class(es) in 'pred' ['urgent'] in 1 row(s), kept "
                     "(unknown_class: admit; the reference's classes are ['high', 'low', 'mid'])"]
    with pytest.raises(DataContractError, match="^the reference: prediction_column 'pred'"):
        reference_labels_check(batch, {}, spec_of("multiclass", MULTICLASS))


# --- the real drift job of an external monitor --------------------------------------------------------------------
CHURN = Path(__file__).resolve().parents[1] / "data"
GOOD_WEEK, WEEK = "2023-02-13", "2023-02-20"
WEEK_DAYS = pd.date_range(WEEK, periods=7).strftime("%Y-%m-%d").tolist()


def churn_source() -> pd.DataFrame:
    """The churn sample to the end of February 2023 (strings, as sources are read), with a simulated model's
    logged prediction and both classes' probabilities (seeded)."""
    frame = pd.read_csv(CHURN / "churn_snapshots.csv", dtype=str)
    frame = frame[frame["snapshot_date"] < "2023-03-01"].reset_index(drop=True)
    p_churn = np.random.default_rng(21).uniform(0.01, 0.7, len(frame)).round(3)
    return frame.assign(predicted_churned=(p_churn >= 0.5).astype(int).astype(str), p_churned=p_churn.astype(str),
                        p_stays=(1 - p_churn).round(3).astype(str))


def external_spec(tmp: Path) -> Path:
    spec = yaml.safe_load((CHURN / "churn.yaml").read_text())
    spec["columns"].update({"predicted_churned": "int", "p_churned": "float", "p_stays": "float"})
    spec.update(prediction_column="predicted_churned", probability_columns={1: "p_churned", 0: "p_stays"})
    path = tmp / "churn_external.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def external_monitor(source: Path, spec: Path) -> Monitor:
    return Monitor.model_validate({
        "name": "churn_external", "spec": DatasetSpec.from_yaml(spec), "source": str(source), "cadence": "weekly",
        "model": {"source": "external"}, "retry": {"delay_seconds": 0.5},
    })  # fmt: skip


def week_rows(frame: pd.DataFrame) -> list[int]:
    """The indexes of the week's rows, in source order."""
    return frame.index[frame["snapshot_date"].isin(WEEK_DAYS)].tolist()


def edit_week(column: str, values: list) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Set `column` of the week's first rows (in source order) to `values`."""

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[week_rows(frame)[: len(values)], column] = values
        return frame

    return edit


@dataclass
class World:
    root: Path
    spec: Path
    instance: dg.DagsterInstance
    baseline: Platform
    source: pd.DataFrame

    def state(self) -> dict:
        """What a run could have written: the warehouse's tables and the monitor's part of the store."""
        warehouse = self.baseline.resources["warehouse"]
        monitor = self.baseline.monitor
        store = self.root / "store" / monitor.name
        return {
            "history_sha256": self.baseline.history_hash(),
            "reference_rows": len(warehouse.read(monitor.table("reference"), monitor.spec.layout)),
            "predictions_table": warehouse.table_exists(monitor.table("predictions")),
            "store_files": sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file()),
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    """A good week ingested first (reference and history in the warehouse): the baseline nothing may change."""
    root = tmp_path_factory.mktemp("external_contract")
    source, spec = root / "good.csv", external_spec(root)
    frame = churn_source()
    frame.to_csv(source, index=False)
    with dg.instance_for_test() as instance:
        baseline = Platform(local_resources(root), instance, monitor=external_monitor(source, spec))
        baseline.job("drift_job").execute_in_process(
            partition_key=GOOD_WEEK, instance=instance,
            asset_selection=[baseline.key("current_batch"), baseline.key("combined_history")])
        yield World(root, spec, instance, baseline, frame)


def key_of(frame: pd.DataFrame, index: int) -> str:
    """How an example row of the churn source is shown: its index and its key (customer_id, snapshot_date)."""
    return (f"row {index}: customer_id={frame.at[index, 'customer_id']!r}, "
            f"snapshot_date=Timestamp('{frame.at[index, 'snapshot_date']} 00:00:00')")


@dataclass
class Case:
    name: str
    edit: Callable[[pd.DataFrame], pd.DataFrame]
    message: Callable[[pd.DataFrame, list[int]], str]  # from the source and the week's rows (the first edited)


CASES = [
    Case("prediction column missing", lambda f: f.drop(columns=["predicted_churned"]),
         lambda f, rows: "missing the external model's prediction column 'predicted_churned' (spec key "
                         "prediction_column); the dataset spec 'churn_snapshots' declares them"),
    Case("probability above 1", edit_week("p_churned", ["1.7", "1.02"]),
         lambda f, rows: "probability column(s) ['p_churned'] (spec key probability_columns) must hold values in "
                         f"[0, 1]: 2 row(s), e.g. {key_of(f, rows[0])}, p_churned=1.7; {key_of(f, rows[1])}, "
                         "p_churned=1.02"),
    Case("probabilities not summing to 1", edit_week("p_stays", ["0.0", "0.1"]),
         lambda f, rows: "probability columns ['p_churned', 'p_stays'] (spec key probability_columns, classes [1, 0]) "
                         "must sum to 1 in every row (within PROBABILITY_SUM_TOLERANCE 0.001): 2 row(s), e.g. "
                         f"{key_of(f, rows[0])}, sum(p_churned + p_stays)={float(f.at[rows[0], 'p_churned'])}"),
    Case("a row without its prediction", edit_week("predicted_churned", [None]),
         lambda f, rows: "the external model's logged output is missing or infinite in column(s) "
                         f"['predicted_churned'] (spec keys prediction_column / probability_columns): 1 row(s), "
                         f"e.g. {key_of(f, rows[0])}, predicted_churned=<NA>"),
    Case("a predicted class outside the classes", edit_week("predicted_churned", ["2"]),
         lambda f, rows: "prediction_column 'predicted_churned': predicted class(es) [2] outside the known classes "
                         f"[0, 1] in 1 row(s), e.g. {key_of(f, rows[0])}, predicted_churned=2"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_drift_job_fails_naming_rows_and_columns_and_writes_nothing(case: Case, world: World, tmp_path) -> None:
    before = world.state()
    source = tmp_path / "broken.csv"
    case.edit(world.source).to_csv(source, index=False)
    platform = Platform(local_resources(world.root), world.instance, monitor=external_monitor(source, world.spec))
    result = platform.run_week(WEEK, raise_on_error=False)
    assert not result.success
    message = step_failure_message(result)
    assert f"week {WEEK} breaks the data contract: " + case.message(world.source, week_rows(world.source)) in message, \
        message
    assert sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events) == 0  # bad data: no retry
    assert result.get_asset_materialization_events() == []
    assert world.state() == before  # history, reference, no predictions table, nothing in the store


def test_a_bad_reference_window_creates_no_table(tmp_path: Path, instance) -> None:
    """The week is good, the reference window is not: the history step fails before the reference table (or
    any other) is created."""
    source, frame = tmp_path / "bad_reference.csv", churn_source()
    frame.assign(p_churned=["-0.2", *frame["p_churned"][1:]]).to_csv(source, index=False)
    platform = Platform(local_resources(tmp_path), instance, monitor=external_monitor(source, external_spec(tmp_path)))
    result = platform.job("drift_job").execute_in_process(
        partition_key=GOOD_WEEK, instance=instance, raise_on_error=False,
        asset_selection=[platform.key("current_batch"), platform.key("combined_history")])
    assert not result.success
    assert ("the reference window breaks the data contract: probability column(s) ['p_churned'] (spec key "
            f"probability_columns) must hold values in [0, 1]: 1 row(s), e.g. {key_of(frame, 0)}, p_churned=-0.2"
            ) in step_failure_message(result)
    warehouse = platform.resources["warehouse"]
    assert [kind for kind in ("reference", "history", "predictions")
            if warehouse.table_exists(platform.monitor.table(kind))] == []
    written = {e.asset_key for e in result.get_asset_materialization_events()}
    assert written == {platform.key("current_batch")}  # the week itself was good
