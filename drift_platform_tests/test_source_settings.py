"""How a monitor's `source` is written: the kind each form is read as, a SQL source's rules, and a defs.yaml with a
SQL source loading (credentials only through the environment, never shown in a load error)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from drift_platform.core.settings import SqlSource, describe_source, source_kind
from drift_platform.definitions import build_definitions

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "pw-Never-Shown-7"


def test_each_form_is_read_as_its_kind(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    kinds = {
        str(REPO / "data" / "bike_sharing_day.csv"): "csv",
        "https://example.org/export.csv?token=abc": "csv",
        "s3://bucket/events.parquet": "parquet",
        "s3://bucket/events/": "parquet",
        str(tmp_path / "events"): "parquet",
        f"file://{tmp_path / 'events'}": "parquet",
        str(tmp_path / "one.parquet"): "parquet",
        SqlSource(url="sqlite:///w.db", table="events"): "sql",
    }
    assert {str(source): source_kind(source) for source in kinds} == {str(s): k for s, k in kinds.items()}


def test_a_sql_source_names_a_table_or_a_query_binding_the_period() -> None:
    cases = {
        "neither": ({}, "set either table or query"),
        "both": ({"table": "t", "query": "SELECT * FROM t WHERE ts >= :start AND ts < :end"}, "not both"),
        "no :end": ({"query": "SELECT * FROM t WHERE ts >= :start"}, "must bind the period with :end"),
        "no :start": ({"query": "SELECT * FROM t WHERE ts < :end"}, "must bind the period with :start"),
        ":ending is not :end": ({"query": "SELECT * FROM t WHERE ts >= :start AND x = :ending"}, ":end"),
    }
    for case, (fields, expected) in cases.items():
        with pytest.raises(ValidationError, match=expected):
            SqlSource(url=f"postgresql://u:{PASSWORD}@db/w", **fields)
        assert case
    with pytest.raises(ValidationError, match="must be a SQLAlchemy URL"):
        SqlSource(url="warehouse.db", table="t")
    source = SqlSource(url=f"postgresql://reader:{PASSWORD}@db:5432/w?sslmode=require", table="sales.orders")
    assert describe_source(source) == "postgresql://db:5432/w table sales.orders"
    assert describe_source("https://u:p@host/x.csv?token=t") == "https://host/x.csv"


SQL_MONITOR = """\
type: drift_platform.DriftMonitor
attributes:
  spec: "{spec}"
  source:
    url: {url}
    {what}
  cadence: weekly
"""


def load(tmp_path: Path, url: str, what: str, env: dict[str, str] | None = None):
    target = tmp_path / "defs" / "monitors" / "orders"
    target.mkdir(parents=True, exist_ok=True)
    (target / "defs.yaml").write_text(SQL_MONITOR.format(spec=REPO / "data" / "bike_sharing.yaml", url=url,
                                                         what=what))
    return build_definitions(defs_folder=tmp_path / "defs", env={"DRIFT_DATA_DIR": str(tmp_path / "data"),
                                                                 **(env or {})})


def _chain(error: BaseException | None) -> str:
    found = []
    while error is not None:
        found.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(found)


def test_a_sql_source_from_the_environment_loads_and_a_written_password_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://reader:{PASSWORD}@db.internal:5432/warehouse"
    monkeypatch.setenv("ORDERS_DB_URL", url)
    defs = load(tmp_path, '"{{ env.ORDERS_DB_URL }}"', "table: orders")
    asset = defs.resolve_assets_def(["orders", "current_batch"])
    assert "sql" in asset.specs_by_key[asset.key].kinds
    with pytest.raises(Exception) as excinfo:
        load(tmp_path, url, "table: orders")  # (Dagster's error quotes the file's own lines, the password there)
    assert "a password written in defs.yaml" in _chain(excinfo.value)
    with pytest.raises(Exception) as excinfo:
        load(tmp_path, '"{{ env.ORDERS_DB_URL }}"', "query: SELECT * FROM orders")
    message = _chain(excinfo.value)
    assert "must bind the period with :start and :end" in message and PASSWORD not in message, message


def test_labels_read_again_from_the_source_need_a_csv(tmp_path: Path) -> None:
    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.settings import Monitor

    spec = DatasetSpec.from_yaml(REPO / "data" / "bike_sharing.yaml")
    labels = {"in_source": True, "label_delay": "4 weeks"}
    folder = tmp_path / "bikes"
    folder.mkdir()
    problems = {source: Monitor(name="bikes", spec=spec, source=source, labels=labels).problems()
                for source in (str(REPO / "data" / "bike_sharing_day.csv"), str(folder))}
    assert not any("labels.in_source" in p for p in problems[str(REPO / "data" / "bike_sharing_day.csv")])
    assert any("this parquet source needs labels.source" in p for p in problems[str(folder)]), problems
