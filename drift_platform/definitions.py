"""The code location: every monitor of the defs folder, and the resources they share.

Each folder `drift_platform/defs/monitors/<name>/` with a `defs.yaml` naming `drift_platform.DriftMonitor` is
one monitor (drift_platform/lib/component.py makes its assets, checks, jobs, schedule and sensors). A folder of
Python modules (`drift_platform/defs/team_jobs/`) adds the jobs they define: the teams' own jobs, which an
external model's monitor launches on a failed check (`model.on_failure_job`). The
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
    """Every component of the defs folder (each folder with a defs.yaml), and the definitions of each folder of
    Python modules (a team's jobs), loaded by Dagster's component tree as `dg.load_from_defs_folder` loads
    them: the same YAML, templating, resolvers and errors naming the file. An external monitor's on_failure_job
    must be one of the jobs loaded (`check_on_failure_jobs`).

    One difference: `load_from_defs_folder` also imports every installed Dagster integration (dagster_aws,
    dagster_slack, ...) to list their component types for Dagster+'s catalog, which would triple the time a
    code location takes to load here (4.5 s instead of 1.5 s). Each folder is built on its own instead. Another
    folder than the project's (a test's) is loaded as a package of its own."""
    import sys
    import types
    import warnings

    folder = Path(folder).resolve()
    if folder == DEFS_FOLDER:
        import drift_platform.defs as package
    else:  # importable by name, as Dagster imports the Python files it finds beside the YAML
        name = f"drift_platform_defs_{abs(hash(str(folder)))}"
        package = sys.modules.setdefault(name, types.ModuleType(name))
        package.__path__ = [str(folder)]
        package.__file__ = str(folder / "__init__.py")
    tree = dg.ComponentTree.from_module(defs_module=package, project_root=REPO_ROOT)
    components = {path.parent for path in folder.rglob("defs.yaml")}
    modules = {path.parent for path in folder.rglob("*.py") if path.name != "__init__.py"} - components - {folder}
    with warnings.catch_warnings():  # Dagster's loader of Python modules is a preview feature in 1.13
        warnings.simplefilter("ignore", category=dg.PreviewWarning)
        merged = dg.Definitions.merge(*(tree.build_defs_at_path(path.relative_to(folder))
                                        for path in sorted(components | modules)))
    check_on_failure_jobs(merged)
    return merged


class OnFailureJobError(ValueError):
    """An external monitor names an on_failure_job that the code location does not hold."""


def check_on_failure_jobs(merged: dg.Definitions) -> None:
    """Each monitor's on_failure_job (named in its sensor's metadata with its defs.yaml) is a job of `merged`."""
    jobs = {job.name for job in merged.jobs or ()}
    for sensor in merged.sensors or ():
        metadata = {key: getattr(value, "value", value) for key, value in (sensor.metadata or {}).items()}
        wanted = metadata.get("on_failure_job")
        if wanted and wanted not in jobs:
            raise OnFailureJobError(
                f"{metadata.get('defs_yaml')}: model.on_failure_job {wanted!r} is not a job of this code location "
                f"(its jobs: {', '.join(sorted(jobs))}). Define it in a module of drift_platform/defs/ (e.g. "
                "defs/team_jobs/) or fix the name.")


def build_definitions(defs_folder: Path = DEFS_FOLDER, env: Mapping[str, str] = os.environ) -> dg.Definitions:
    settings = DeploymentSettings.from_env(env)
    # The executor of the runs an asset backfill launches (Dagster's implicit asset job), as the monitors' jobs
    # have: steps one after another in the run's process, not one process per step.
    return dg.Definitions.merge(load_defs_folder(defs_folder),
                                dg.Definitions(resources=settings.resources(), executor=dg.in_process_executor))


defs = build_definitions()
