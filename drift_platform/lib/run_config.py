"""A step's run config: the Launchpad shows a step's settings with the monitor's values and may override any of
them for one run.

A setting is validated once: the monitor's YAML when it is resolved (drift_platform/core/settings.py), a run's
override when the step starts. A step whose config is the monitor's own gets the monitor's settings object back.
"""

import dagster as dg
from pydantic import BaseModel, Field, ValidationError, create_model


def run_config_class(defaults: BaseModel, name: str) -> type[dg.Config]:
    """The Dagster run config of a step: the fields of a settings model, defaulting to the monitor's values (its
    YAML). `name` must be unique in the code location (Dagster names config types by class)."""
    fields = {
        field: (info.annotation, Field(default=getattr(defaults, field), description=info.description))
        for field, info in type(defaults).model_fields.items()
    }
    return create_model(name, __base__=dg.Config, **fields)


def settings_from(config: dg.Config, defaults: BaseModel):
    """The step's settings: the monitor's own when the run overrides nothing, else the override validated by the
    settings model; a bad value fails the step, naming the key."""
    from drift_platform.core.intake.dataset import describe_errors

    values = config.model_dump()
    if values == defaults.model_dump():
        return defaults
    try:
        return type(defaults).model_validate(values)
    except ValidationError as exc:
        raise dg.Failure(f"invalid run config: {describe_errors(exc)}", allow_retries=False) from exc
