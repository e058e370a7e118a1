"""Evidently's UI as the report viewer: one Evidently project per monitor, one run per period, a dashboard made
by code. Plain functions over an Evidently workspace (a local `Workspace` or a `RemoteWorkspace` behind
`evidently ui`), no Dagster; evidently is imported inside them (it costs seconds to import).

- `find_or_create_project`: the project named after the monitor, created on first use and found again by
  name; never two of one name (a race that made two keeps the oldest and deletes the others, empty).
- `publish`: a drift report's Evidently snapshot becomes a run of the project; the runs it replaces (an earlier
  run of the same period) are deleted after it is in, so a re-run period keeps one run: the newer.
- `dashboard`/`ensure_dashboard`: the project's dashboard as code (the dataset's drift share per period, the
  number of drifted columns, one panel per monitored column's drift score), saved only when it differs from
  the one stored, so calling it on every run is cheap and idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

RUN_PAGE = "{ui_url}/projects/{project_id}/reports/{run_id}"


@dataclass(frozen=True)
class Published:
    project_id: str
    run_id: str
    url: str
    deleted: tuple[str, ...] = ()


def find_or_create_project(workspace: Any, name: str, description: str = "") -> str:
    """The id of the project named `name`, created if there is none."""
    found = [p for p in workspace.search_project(name) if p.name == name]
    if not found:
        workspace.create_project(name, description or None)
        found = [p for p in workspace.search_project(name) if p.name == name]
    keep, *extra = sorted(found, key=lambda p: str(p.id))  # ids are time-ordered (UUIDv7): the oldest first
    for project in extra:  # another process created one at the same moment
        if not workspace.list_runs(project.id):
            workspace.delete_project(project.id)
    return str(keep.id)


def dashboard(columns: Sequence[str], threshold: float):
    """The panels of a monitor's dashboard, in order."""
    from evidently.sdk.models import DashboardModel
    from evidently.sdk.panels import PanelMetric, line_plot_panel

    share = PanelMetric(legend="share of drifted columns", metric="DriftedColumnsCount",
                        metric_labels={"value_type": "share"})
    count = PanelMetric(legend="drifted columns", metric="DriftedColumnsCount", metric_labels={"value_type": "count"})
    panels = [
        line_plot_panel(f"Dataset drift share (the dataset drifts at {threshold:.2f})", [share], size="half",
                        description="Share of the monitored columns whose drift test failed, per period"),
        line_plot_panel("Drifted columns", [count], size="half",
                        description=f"How many of the {len(columns)} monitored columns drifted, per period"),
    ]
    panels += [
        line_plot_panel(f"Drift score: {column}", [PanelMetric(legend=column, metric="ValueDrift",
                                                               metric_labels={"column": column})], size="half",
                        description="The drift test's score (a p-value or a distance, by method)")
        for column in columns
    ]
    return DashboardModel(tabs=[], panels=panels)


def _comparable(model: Any) -> list[tuple]:
    return [(p.title, p.subtitle, p.size, [(v.metric, dict(v.metric_labels)) for v in p.values])
            for p in model.panels]


def ensure_dashboard(workspace: Any, project_id: str, model: Any) -> bool:
    """Save the dashboard when the stored one differs (panels added, removed or changed); True if saved."""
    if _comparable(workspace.get_dashboard(project_id)) == _comparable(model):
        return False
    workspace.save_dashboard(project_id, model)
    return True


def publish(workspace: Any, project_id: str, snapshot: Any, ui_url: str, replaces: Iterable[str] = ()) -> Published:
    """Add the snapshot as a run, then delete the runs it replaces (the same period's earlier runs)."""
    ref = workspace.add_run(project_id, snapshot, include_data=False)
    run_id = str(ref.id)
    deleted = []
    known = {str(r) for r in workspace.list_runs(project_id)}
    for old in dict.fromkeys(replaces):
        if old and old != run_id and old in known:
            workspace.delete_run(project_id, old)
            deleted.append(old)
    url = RUN_PAGE.format(ui_url=ui_url.rstrip("/"), project_id=project_id, run_id=run_id)
    return Published(project_id, run_id, url, tuple(deleted))
