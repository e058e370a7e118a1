"""`dagster-daemon` as the deployments run it (docker-compose.yml, the loopback stack): Dagster's own daemon, with
the backfill daemon's loop every DRIFT_BACKFILL_INTERVAL_SECONDS (default 5) instead of 30.

Dagster 1.13's backfill daemon looks for new backfills every 30 s (`DEFAULT_DAEMON_INTERVAL_SECONDS`,
dagster/_daemon/controller.py; not an instance setting), so a backfill launched from the UI waited 0-30 s before its
first run existed: a quarter to a half of a 100-week backfill's minute. The loop reads that constant when the daemon
starts (dagster/_daemon/backfill.py `execute_backfill_iteration_loop`), so it is set here before Dagster's CLI runs;
drift_platform_tests/test_daemon.py fails if Dagster stops reading it there. The asset daemon's interval, which
falls back to the same constant, is pinned in dagster.yaml (`auto_materialize.minimum_interval_seconds`).

Run as `python -m drift_platform.instance.daemon run` with `dagster-daemon`'s arguments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

BACKFILL_INTERVAL_ENV = "DRIFT_BACKFILL_INTERVAL_SECONDS"
DEFAULT_BACKFILL_INTERVAL_SECONDS = 5
BOUNDS = (1, 300)


def backfill_interval(env: Mapping[str, str]) -> int:
    """The backfill daemon's loop in seconds: DRIFT_BACKFILL_INTERVAL_SECONDS, a whole number in BOUNDS."""
    raw = env.get(BACKFILL_INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_BACKFILL_INTERVAL_SECONDS
    if not raw.isdigit() or not BOUNDS[0] <= int(raw) <= BOUNDS[1]:
        raise SystemExit(f"{BACKFILL_INTERVAL_ENV} must be a whole number of seconds from {BOUNDS[0]} to "
                         f"{BOUNDS[1]}, got {raw!r}")
    return int(raw)


def main(argv: Sequence[str] | None = None) -> None:
    from dagster._daemon import controller
    from dagster._daemon.cli import cli

    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = backfill_interval(os.environ)
    cli(args=list(sys.argv[1:] if argv is None else argv), prog_name="dagster-daemon", obj={})


if __name__ == "__main__":
    main()
