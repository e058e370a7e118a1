"""`make demo`'s own code (drift_platform.demo) in a process of its own, on a fresh DAGSTER_HOME: its summary,
and the state it leaves for `make dev`: the trend already materialized, every report in Evidently's workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_leaves_the_trend_materialized_and_the_reports_in_evidently(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DRIFT_", "DAGSTER_"))},
           "DAGSTER_HOME": str(home)}
    periods = "2011-02-01,2011-02-08,2011-02-09"
    done = subprocess.run([sys.executable, "-m", "drift_platform.demo", "--monitor", "grid_load", "--periods", periods],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "=== grid_load: drift monitoring (3 periods" in done.stdout and "Demo took" in done.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        trend = instance.get_latest_materialization_event(dg.AssetKey(["grid_load", "drift_trend"]))
        assert trend is not None and trend.asset_materialization.metadata["periods"].value == 3
        reports = instance.fetch_materializations(dg.AssetKey(["grid_load", "drift_report"]), limit=10).records
        assert {r.asset_materialization.metadata["viewer_push"].value for r in reports} == {"ok"}

    from evidently.ui.workspace import Workspace

    workspace = Workspace.create(str(home / "drift_data" / "evidently"))
    [project] = workspace.search_project("grid_load")
    assert len(workspace.list_runs(project.id)) == 3 and len(workspace.get_dashboard(project.id).panels) == 2 + 5
