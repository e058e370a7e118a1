"""A monitor's assets, one module per stage; each module has a `build_*` function that makes them for one monitor.

Asset functions are defined inside those builders (they close over the monitor), so the modules must not use
`from __future__ import annotations`: Dagster reads the run-config class of a step from its annotation.
"""

from typing import Any

import dagster as dg
from pydantic import BaseModel, Field, create_model

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


def run_config_class(model: type[BaseModel], defaults: BaseModel, name: str) -> type[dg.Config]:
    """The Dagster run config of a step: the fields of a pure settings model, defaulting to the monitor's values
    (its YAML), so the Launchpad shows them and a run may override any of them. `name` must be unique in the
    code location (Dagster names config types by class)."""
    fields = {
        field: (info.annotation, Field(default=getattr(defaults, field), description=info.description))
        for field, info in model.model_fields.items()
    }
    return create_model(name, __base__=dg.Config, **fields)


def settings_from(config: dg.Config, model: type[BaseModel]):
    """A step's run config back as the pure settings model; a bad value fails the step, naming the key."""
    from pydantic import ValidationError

    from drift_platform.core.intake.dataset import describe_errors

    try:
        return model.model_validate(config.model_dump())
    except ValidationError as exc:
        raise dg.Failure(f"invalid run config: {describe_errors(exc)}", allow_retries=False) from exc
