"""The reference's drift statistics as an artifact of the store: built on a monitor's first drift report, served
from the store while the reference table is unchanged (no reference row read), rebuilt when the table changes
(never the old statistics), and refused when tampered with, as a tampered model is."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.stats.drift import column_kinds, compute_drift
from drift_platform.core.stats.reference_cache import (
    POINTER_KEY,
    ReferenceStatsIntegrityError,
    artifact_key,
    cached_stats,
    load_stats,
    save_stats,
)
from drift_platform.core.stats.reference_stats import build_reference_stats
from drift_platform_tests.conftest import BIKE_SOURCE, BIKE_SPEC, local_resources
from drift_platform_tests.helpers import Platform, step_failure_message

WEEKS = ["2011-01-31", "2011-02-07", "2011-02-14"]


def drift_metadata(platform: Platform, result) -> dict:
    event = result.asset_materializations_for_node(platform.op("drift_report"))[0]
    return {key: value.value for key, value in event.metadata.items()}


@pytest.fixture
def platform(tmp_path, instance) -> Platform:
    return Platform(local_resources(tmp_path), instance)


def reference_table(platform: Platform) -> str:
    return platform.monitor.table("reference")


def test_built_once_then_served_from_the_store(platform: Platform) -> None:
    first = drift_metadata(platform, platform.run_week(WEEKS[0]))
    second = drift_metadata(platform, platform.run_week(WEEKS[1]))
    assert (first["reference_stats"], second["reference_stats"]) == ("built", "cached")
    assert first["reference_version"] == second["reference_version"]
    folder = platform.models()
    pointer = json.loads(folder.read_bytes(POINTER_KEY))
    assert pointer["version"] == first["reference_version"]
    keys = folder.list_keys("reference_stats")
    derived = (".multivariate-null-", ".outputs-")
    assert [k for k in keys if not any(d in k for d in derived)] == sorted(
        [POINTER_KEY, artifact_key(pointer["version"]), f"reference_stats/{pointer['version']}.json"])
    # and, each computed once: no_multivariate_drift's null for 7-row weeks, and the reference's target statistics
    # for target drift (no champion yet: no model output)
    assert len(keys) == 5 and [k for k in keys if ".outputs-no-model-" in k]

    # The decisions from the cached statistics are those of the reference frame itself.
    warehouse, spec = platform.resources["warehouse"], platform.monitor.spec
    reference = warehouse.read(reference_table(platform), spec.layout)
    from drift_platform.core.intake.source import load_window

    start = pd.Timestamp(WEEKS[1])
    current, _ = load_window(platform.monitor.source, spec, start, start + pd.Timedelta(days=7))
    expected = compute_drift(reference, current, spec, platform.monitor.drift, with_report=False)
    assert second["drift_share"] == expected.share
    assert {c.column: c.score for c in expected.columns} == {
        key.removeprefix("score/"): value for key, value in second.items() if key.startswith("score/")}


@pytest.mark.parametrize("change", ["number", "category", "row"])
def test_a_changed_reference_rebuilds_and_never_serves_the_old_statistics(platform: Platform, change: str) -> None:
    before = drift_metadata(platform, platform.run_week(WEEKS[0]))
    warehouse, spec, table = platform.resources["warehouse"], platform.monitor.spec, reference_table(platform)
    statement = {
        "number": f"UPDATE {table} SET temp = temp + 0.25 WHERE temp = (SELECT min(temp) FROM {table})",
        "category": f"UPDATE {table} SET weathersit = 3 WHERE weathersit = 2",
        "row": f"DELETE FROM {table} WHERE temp = (SELECT max(temp) FROM {table})",
    }[change]
    with warehouse.engine.begin() as conn:
        assert conn.execute(sa.text(statement)).rowcount > 0

    after = drift_metadata(platform, platform.run_week(WEEKS[1]))
    assert after["reference_stats"] == "built" and after["reference_version"] != before["reference_version"]
    reference = warehouse.read(table, spec.layout)
    assert after["reference_rows"] == len(reference)
    pointer = json.loads(platform.models().read_bytes(POINTER_KEY))
    assert pointer["version"] == after["reference_version"]
    fresh = build_reference_stats(reference, column_kinds(spec))
    assert fresh.version == after["reference_version"]
    # The old version's artifact stays (immutable) but is not what the next week gets.
    again = drift_metadata(platform, platform.run_week(WEEKS[2]))
    assert (again["reference_stats"], again["reference_version"]) == ("cached", after["reference_version"])


@pytest.mark.parametrize("tamper", ["flip_byte", "truncate", "other_reference"])
def test_a_tampered_artifact_is_refused(platform: Platform, tamper: str) -> None:
    version = drift_metadata(platform, platform.run_week(WEEKS[0]))["reference_version"]
    folder, key = platform.models(), artifact_key(version)
    data = folder.read_bytes(key)
    if tamper == "flip_byte":
        bad = data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]
    elif tamper == "truncate":
        bad = data[: len(data) // 2]
    else:
        reference = platform.resources["warehouse"].read(reference_table(platform), platform.monitor.spec.layout)
        bad = build_reference_stats(reference.iloc[:20], column_kinds(platform.monitor.spec)).to_bytes()
    folder.write_bytes(key, bad)

    result = platform.run_week(WEEKS[1], raise_on_error=False)
    assert not result.success
    message = step_failure_message(result)
    assert f"reference statistics {key}: sha256" in message and "refusing to use them" in message
    assert not result.asset_materializations_for_node(platform.op("drift_report"))


def test_store_functions(tmp_path) -> None:
    """save/load/cached on a store folder: a fingerprint that differs gets nothing; the same content saved twice
    is one artifact; a manifest naming another version is refused."""
    from drift_platform.resources.store import LocalObjectStore

    spec = DatasetSpec.from_yaml(BIKE_SPEC)
    frame = pd.read_csv(BIKE_SOURCE).head(28)
    kinds = column_kinds(spec)
    stats = build_reference_stats(frame, kinds)
    folder = LocalObjectStore(root=str(tmp_path)).scoped("m")
    assert cached_stats(folder, {"rows": 28}) is None
    manifest = save_stats(folder, stats, {"rows": 28})
    assert cached_stats(folder, {"rows": 28}).version == stats.version
    assert cached_stats(folder, {"rows": 29}) is None
    assert save_stats(folder, stats, {"rows": 28})["created_at"] == manifest["created_at"]
    other = build_reference_stats(frame.head(20), kinds)
    folder.write_bytes(f"reference_stats/{other.version}.npz", folder.read_bytes(artifact_key(stats.version)))
    folder.write_bytes(f"reference_stats/{other.version}.json", folder.read_bytes(f"reference_stats/{stats.version}.json"))
    with pytest.raises(ReferenceStatsIntegrityError, match="hold version"):
        load_stats(folder, other.version)
