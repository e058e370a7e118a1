"""The report viewer: Evidently's own UI (`evidently ui`), where every drift report, and every quality report of
a period with labels, is a run of its monitor's project, one click from the Dagster UI and from Slack.

Embedded default: a local Evidently workspace folder under the data dir, written directly; `make dev` serves it
with `evidently ui` on 127.0.0.1:8000. Production: the `evidently_ui` service of docker-compose, written over
HTTP with Evidently's `RemoteWorkspace` and a write secret (`dg.EnvVar`, never logged). The viewer never holds
the pipeline back: a push is tried a few times, then the caller records that it failed and carries on
(drift_platform/core/evidently_workspace.py has the Evidently logic; this resource adds where, retries and a
lock).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field


class ViewerUnavailable(RuntimeError):
    """The viewer could not take the run after the retries (down, slow, or refusing the secret)."""


class ReportViewer(dg.ConfigurableResource):
    """Evidently's UI: a local workspace folder, or a running `evidently ui` reached over HTTP."""

    ui_url: str = Field(default="http://127.0.0.1:8000", description="The UI's address as browsers reach it (links)")
    workspace_path: str | None = Field(default=None, description="Local workspace folder (embedded default)")
    api_url: str | None = Field(default=None, description="The UI's address as runs reach it (remote workspace)")
    secret: str | None = Field(default=None, description="Write secret of a remote `evidently ui --secret`")
    attempts: int = Field(default=3, description="Tries of one push before giving up")
    retry_delay_s: float = Field(default=1.0, description="First delay between tries; doubled at each")

    def describe(self) -> str:
        return self.api_url or self.workspace_path or "-"

    timeout_s: float = Field(default=10.0, description="Timeout of one HTTP request to a remote UI")

    def _workspace(self):
        if self.api_url:
            return remote_workspace(self.api_url, self.secret, self.timeout_s)
        if not self.workspace_path:
            raise ViewerUnavailable("no Evidently workspace configured (workspace_path or api_url)")
        Path(self.workspace_path).mkdir(parents=True, exist_ok=True)
        return local_workspace(self.workspace_path)

    @contextlib.contextmanager
    def _project_lock(self) -> Iterator[None]:
        """Local workspace: one process at a time finds or creates a project (a file lock). A remote one is
        deduplicated after the fact (drift_platform.core.evidently_workspace.find_or_create_project)."""
        if self.api_url or not self.workspace_path:
            yield
            return
        import fcntl

        Path(self.workspace_path).mkdir(parents=True, exist_ok=True)
        with open(Path(self.workspace_path) / ".drift_platform.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def publish(self, monitor: str, description: str, snapshot: Any, columns: Sequence[str] | None = None,
                threshold: float | None = None, replaces: Iterable[str] = (), log: Any = None,
                estimated: str | None = None):
        """The snapshot (a drift report's, or a period's quality report: core/ml/quality_report.py) as a run of
        the monitor's project, the project made on the way; the runs it replaces deleted. With the monitored
        `columns` and the drift share `threshold` (a drift report's), the dashboard made or updated too (a
        quality report leaves it to the drift reports); `estimated`: the monitor's metric when it estimates it
        (the dashboard's "Estimated vs realized" panel). Retried; raises ViewerUnavailable when every try
        failed."""
        from drift_platform.core.evidently_workspace import (
            dashboard,
            ensure_dashboard,
            find_or_create_project,
            publish,
        )

        delay, failures = self.retry_delay_s, []
        for attempt in range(1, self.attempts + 1):
            try:
                workspace = self._workspace()
                with self._project_lock():
                    project_id = find_or_create_project(workspace, monitor, description)
                if columns is not None:
                    ensure_dashboard(workspace, project_id, dashboard(columns, threshold, estimated))
                return publish(workspace, project_id, snapshot, self.ui_url, replaces)
            except Exception as exc:  # the viewer's trouble must not become the pipeline's
                failures.append(f"try {attempt}: {type(exc).__name__}: {_first_line(exc, self.secret)}")
                if log is not None:
                    log.warning(f"Evidently UI push failed ({failures[-1]})")
                if attempt < self.attempts:
                    time.sleep(delay)
                    delay *= 2
        raise ViewerUnavailable("; ".join(failures))


def local_workspace(path: str):
    """Evidently's local `Workspace` at `path` without the dataset manager its constructor builds at once: that
    manager parses every run of every project in the folder (~20 ms a run, so a push cost seconds once a project
    held a year of periods, and a backfill's pushes grew with the square of its periods). What a push does
    (projects found or made, a run added, listed, deleted, the dashboard read and saved) reads and writes the
    workspace's files directly and never uses it; anything else the full workspace has is made on first use.
    A run's file is written with one `json.dumps` (the same bytes as Evidently's `json.dump`, which streams through
    Python's pure-Python encoder: ~0.15 s a drift report's snapshot, against ~0.03 s)."""
    import json

    from evidently.legacy.utils import NumpyEncoder
    from evidently.ui.storage.local.base import LocalState
    from evidently.ui.workspace import Workspace

    class LeanState(LocalState):
        def write_snapshot(self, project_id, snapshot_id, snapshot) -> None:
            text = json.dumps(snapshot.dict(), cls=NumpyEncoder)
            self.location.makedirs(self._snapshot_dir(project_id))
            with self.location.open(self._snapshot_path(project_id, snapshot_id), "w") as f:
                f.write(text)

    class LeanWorkspace(Workspace):
        def __init__(self, path: str) -> None:  # noqa: D107 (Workspace.__init__ less its dataset and SDK managers)
            self.path = path
            self.state = LeanState(path)

        def __getattr__(self, name: str):  # only what __init__ above did not set: taken from a full Workspace
            if name.startswith("__"):
                raise AttributeError(name)
            full = vars(Workspace(self.path))
            self.__dict__.update({key: value for key, value in full.items() if key not in self.__dict__})
            if name not in self.__dict__:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            return self.__dict__[name]

    return LeanWorkspace(path)


def remote_workspace(url: str, secret: str | None, timeout_s: float):
    """Evidently's `RemoteWorkspace` with a timeout on every request (its client waits forever on a hung server)
    and the two calls evidently 0.7.23's client leaves unimplemented though the server has them: listing a
    project's runs and deleting one."""
    from evidently.ui.workspace import RemoteWorkspace
    from requests import Session

    class Remote(RemoteWorkspace):
        def _request(self, path, method, query_params=None, body=None, response_model=None, cookies=None,
                     headers=None, form_data=False):
            from evidently._pydantic_compat import parse_obj_as

            request = self._prepare_request(path, method, query_params, body, cookies, headers, form_data=form_data)
            response = Session().send(request.prepare(), timeout=timeout_s)
            response.raise_for_status()
            return parse_obj_as(response_model, response.json()) if response_model is not None else response

        def list_runs(self, project_id):
            return [run["id"] for run in self._request(f"/api/projects/{project_id}/snapshots", "GET").json()]

        def delete_run(self, project_id, snapshot_id):
            self._request(f"/api/projects/{project_id}/{snapshot_id}", "DELETE")

    return Remote(url, secret=secret)


def _first_line(exc: Exception, secret: str | None) -> str:
    text = (str(exc).splitlines() or [""])[0][:300]
    return text.replace(secret, "***") if secret else text
