"""The code location: every monitor of the defs folder, and the resources they share.

Each folder `drift_platform/defs/monitors/<name>/` with a `defs.yaml` naming `drift_platform.DriftMonitor` is
one monitor (drift_platform/lib/component.py makes its assets, checks, jobs, schedule and sensors). The
resources come from the deployment's environment, read here through drift_platform/resources/deployment.py
(its docstring lists the variables, and the one the package reads elsewhere).

`defs` is what `dagster`, `dg` and the gRPC code server load (`-m drift_platform.definitions`).
`build_definitions` exists so that a test (or a second code location) can load another defs folder and
another environment.
"""

import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from drift_platform.resources.deployment import REPO_ROOT, DeploymentSettings

DEFS_FOLDER = Path(__file__).resolve().parent / "defs"


def load_defs_folder(folder: Path) -> dg.Definitions:
    """Every component of the defs folder (each folder with a defs.yaml), loaded by Dagster's component tree
    as `dg.load_from_defs_folder` loads it: the same YAML, templating, resolvers and errors naming the file.

    One difference: `load_from_defs_folder` also imports every installed Dagster integration (dagster_aws,
    dagster_slack, ...) to list their component types for Dagster+'s catalog, which would triple the time a
    code location takes to load here (4.5 s instead of 1.5 s). Each monitor's folder is built on its own
    instead. Another folder than the project's (a test's) is loaded as a package of its own."""
    import sys
    import types

    folder = Path(folder).resolve()
    if folder == DEFS_FOLDER:
        import drift_platform.defs as package
    else:  # importable by name, as Dagster imports the Python files it finds beside the YAML
        name = f"drift_platform_defs_{abs(hash(str(folder)))}"
        package = sys.modules.setdefault(name, types.ModuleType(name))
        package.__path__ = [str(folder)]
        package.__file__ = str(folder / "__init__.py")
    tree = dg.ComponentTree.from_module(defs_module=package, project_root=REPO_ROOT)
    instances = sorted(path.parent.relative_to(folder) for path in folder.rglob("defs.yaml"))
    return dg.Definitions.merge(*(tree.build_defs_at_path(path) for path in instances))


def build_definitions(defs_folder: Path = DEFS_FOLDER, env: Mapping[str, str] = os.environ) -> dg.Definitions:
    settings = DeploymentSettings.from_env(env)
    # The executor of the runs an asset backfill launches (Dagster's implicit asset job), as the monitors' jobs
    # have: steps one after another in the run's process, not one process per step.
    return dg.Definitions.merge(load_defs_folder(defs_folder),
                                dg.Definitions(resources=settings.resources(), executor=dg.in_process_executor))


defs = build_definitions()
