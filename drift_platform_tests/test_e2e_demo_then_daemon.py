"""`make demo` then `make dev`: the demo's retrains, then a real `dagster-daemon run` on the same
DAGSTER_HOME, whose retrain sensor starts with an empty cursor (the demo keeps its own in a file). The sensor's
first ticks read every failed evaluation the demo already acted on again; the demo's retrain runs, tagged with
their evaluations, keep it from retraining any of them a second time (or promoting another champion)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from drift_platform.core.names import TAG_EVALUATION_ID, TAG_MONITOR
from drift_platform_tests.helpers import finished_ticks
from loopback.dagster_stack import BIN, CODE_LOCATION, REPO, ManagedProcess, wait_for, write_monitors

MONITOR = "grid_load"
# The storm: the day's data drifts, the sensor asks for a retrain, the first model goes into service.
PERIODS = "2011-02-08"
SENSOR = f"{MONITOR}_retrain_on_drift_sensor"


def retrain_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(job_name=f"{MONITOR}_retrain_job")))




@pytest.mark.e2e
@pytest.mark.slow
def test_the_daemon_after_the_demo_retrains_nothing_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # what `make demo` writes
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DRIFT_", "DAGSTER_", "SLACK_"))},
        "DAGSTER_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    started = time.monotonic()
    demo = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--monitor", MONITOR, "--periods", PERIODS],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    demo_seconds = time.monotonic() - started
    champion = home / "drift_data" / "store" / MONITOR / "models" / "champion.json"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        before = retrain_runs(instance)
        assert before and all(
            r.tags[TAG_MONITOR] == MONITOR and r.tags.get(TAG_EVALUATION_ID) for r in before
        )
        pointer = champion.read_bytes()

        # `make dev`'s daemon over the same instance and data, with the monitor as shipped (ticking every 3 s)
        defs_folder = write_monitors(tmp_path / "defs", names=(MONITOR,), sensor_interval_seconds=3)
        logs = tmp_path / "logs"
        logs.mkdir()
        daemon = ManagedProcess(
            "daemon",
            [str(BIN / "dagster-daemon"), "run", "-m", CODE_LOCATION],
            {**env, "DRIFT_STACK_DEFS_FOLDER": str(defs_folder)},
            logs,
        ).start()
        started = time.monotonic()
        try:
            ticks = wait_for(
                lambda: (t := finished_ticks(instance, SENSOR)) and len(t) >= 2 and t,
                240,
                f"two finished ticks of {SENSOR}",
                interval=1.0,
                diagnostics=daemon.log_tail,
            )
        finally:
            daemon.stop()
        daemon_seconds = time.monotonic() - started

        assert [t.status.value for t in ticks] == ["SKIPPED"] * len(ticks), [t.tick_data for t in ticks]
        assert not any(t.run_ids for t in ticks)
        for run in before:  # the first tick read each of the demo's failed evaluations again, and settled it
            assert (
                f"retrain for evaluation {run.tags[TAG_EVALUATION_ID]} already ran: run {run.run_id}"
                in ticks[0].skip_reason
            ), ticks[0].skip_reason
        assert {r.run_id for r in retrain_runs(instance)} == {r.run_id for r in before}
        assert champion.read_bytes() == pointer
    print(f"demo {demo_seconds:.1f} s, daemon to two ticks {daemon_seconds:.1f} s")
