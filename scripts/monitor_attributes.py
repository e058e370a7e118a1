"""Print the DriftMonitor attribute reference (docs/monitors.md's table) from the models themselves.

    .venv/bin/python scripts/monitor_attributes.py > /tmp/table.md

drift_platform_tests/test_docs.py checks that docs/monitors.md holds exactly this table.
"""

from __future__ import annotations

import json
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from drift_platform.core.settings import Monitor


def _type(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "")
    if isinstance(annotation, type) and not get_args(annotation):
        text = annotation.__name__
    return text.replace("NoneType", "None").replace("drift_platform.core.settings.", "")


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see below"
    return "`" + json.dumps(value) + "`"


def rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    lines = []
    nested = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        # The YAML key: the first validation alias (e.g. reference_window), else the alias (model), else the name.
        alias = getattr(field.validation_alias, "choices", [field.alias or name])[0]
        key = f"{prefix}{alias}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and get_origin(annotation) is None:
            kind = "path or mapping" if key == "spec" else "mapping"
            lines.append(f"| `{key}` | {kind} | see below | {field.description or annotation.__doc__.splitlines()[0]} |")
            nested.append((key, annotation))
            continue
        lines.append(f"| `{key}` | `{_type(annotation)}` | {_default(field)} | {field.description or ''} |")
        # A union with a settings model (`source: str | SqlSource`, `labels: LabelsSettings | None`): its fields too.
        nested += [(key, arg) for arg in get_args(annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)]
    for key, annotation in nested:
        lines.extend(rows(annotation, prefix=f"{key}."))
    return lines


def table() -> str:
    header = ["| attribute | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(header + rows(Monitor)) + "\n"


if __name__ == "__main__":
    print(table(), end="")
