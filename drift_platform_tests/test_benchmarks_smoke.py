"""The benchmarks at a smoke size (2,000 rows, one run each, 3 weeks), so `make bench` cannot rot.

Timings are not asserted (this machine is shared and the sizes are tiny); what must hold is that every group
runs in its own processes, the table comes out, and the project's drift decisions equal the bare preset's.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.run import main


@pytest.mark.timeout(900)
def test_smoke_benchmark_produces_the_table(tmp_path, capsys) -> None:
    assert main(["--smoke", "--out", str(tmp_path)]) == 0

    [markdown] = tmp_path.glob("bench-*-smoke.md")
    [raw] = tmp_path.glob("bench-*-smoke.json")
    table = markdown.read_text()
    assert table == capsys.readouterr().out.rstrip("\n") + "\n"
    assert "| group | case | runs | median s | min s | max s | peak RSS MB | note |" in table
    result = json.loads(raw.read_text())

    groups = {row["group"].split(".")[0] for row in result["rows"]}
    assert groups == {"a", "b", "c", "d", "e", "f"}
    for row in result["rows"]:
        assert row["runs"] >= 1 and row["median_s"] > 0 and row["peak_rss_mb"] > 1, row
        assert f"| {row['case']} |" in table
    cases = {row["case"] for row in result["rows"]}
    assert {"2,000: bare Evidently DataDriftPreset", "write 2,000 rows: psql \\copy FROM a CSV file",
            "python -c 'import drift_platform.definitions'", "backfill: the first 3 sample weeks, one in-process run each",
            "731 rows (the sample's history), n_jobs=-1"} <= cases

    [with_report, decisions_only] = result["agreement"]
    for agreement in (with_report, decisions_only):
        assert agreement["rows"] == 2000 and agreement["columns"] == 12 and 0 < agreement["drifted"] < 12
        assert agreement["decisions_identical"] and agreement["methods_identical"] and agreement["dataset_drift_identical"]
        assert agreement["max_abs_score_diff"] == 0
    targets = {t["target"]: t for t in result["targets"]}
    assert targets["drift 2,000 x 12: identical per-column decisions"]["holds"] is True
    assert {t["target"].split(" ")[0] for t in result["targets"]} >= {"drift", "history", "code-location", "sensor"}
