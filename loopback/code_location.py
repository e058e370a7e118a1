"""The Dagster stack's code location (`DagsterStack`'s default module): drift_platform's own `build_definitions`
over a defs folder the stack wrote (DRIFT_STACK_DEFS_FOLDER): the shipped monitors' defs.yaml with the stack's
overrides (by default sensors ticking every 3 s and short retry delays, so that the daemon reacts within seconds
instead of the default 30), and the shipped team jobs (drift_platform/defs/team_jobs/)."""

import os
from pathlib import Path

from drift_platform.definitions import build_definitions

defs = build_definitions(defs_folder=Path(os.environ["DRIFT_STACK_DEFS_FOLDER"]))
