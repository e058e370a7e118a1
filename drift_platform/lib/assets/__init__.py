"""A monitor's assets, one module per asset (or pair); each module has a `build_*` function that makes them for one
monitor and module-level functions that do the work, calling drift_platform.core for the decisions.

Asset functions are defined inside those builders (they close over the monitor), so the modules must not use
`from __future__ import annotations`: Dagster reads the run-config class of a step from its annotation.
"""

from typing import Any

import dagster as dg

from drift_platform.core.names import TAG_STAGE
from drift_platform.core.settings import Monitor

# pandas is imported inside the asset bodies, not when the code location loads (~1 s saved on every load);
# inputs and outputs that carry a pandas DataFrame are annotated with this alias.
DataFrame = Any


def asset_key(monitor: Monitor, name: str) -> dg.AssetKey:
    return dg.AssetKey([monitor.name, name])


def asset_args(monitor: Monitor, name: str, stage: str, **kwargs: Any) -> dict[str, Any]:
    """What every asset of a monitor shares: its key under the monitor, the monitor's group, owners, stage tag."""
    return {
        "key": asset_key(monitor, name),
        "group_name": monitor.name,
        "owners": list(monitor.owners),
        "tags": {TAG_STAGE: stage},
        **kwargs,
    }
