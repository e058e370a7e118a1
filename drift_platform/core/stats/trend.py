"""Drift over time as plain values: every period's drift (`PeriodDrift`, from its drift_report metadata), one
table of them (`trend_frame`, `trend_markdown`) and one chart (`render_chart`, a PNG); and the model's quality per
period (`PeriodQuality`, from the predictions' and the labels' metadata: `quality_rows`, `quality_markdown`,
`quality_values`): the metric estimated before the labels land with its band, the realized one, labels pending.

No Dagster: drift_platform/lib/assets/drift_trend.py reads the periods from the Dagster instance, calls these
and reports the metadata. pandas, numpy and matplotlib are imported inside the functions that use them.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# Inline the chart in the metadata (a markdown image with a data URL) up to this size; bigger ones are linked only.
INLINE_CHART_MAX_BYTES = 400_000
# Scores are written into the heatmap's cells up to this many periods; beyond that only the colours.
ANNOTATE_MAX_PERIODS = 30


@dataclass(frozen=True)
class PeriodDrift:
    """One period's drift, as its latest drift_report materialization recorded it."""

    period: str
    drift_share: float
    threshold: float
    dataset_drift: bool
    scores: Mapping[str, float] = field(default_factory=dict)
    drifted: Mapping[str, bool | None] = field(default_factory=dict)  # None: not recorded (older reports)
    report: str = "-"
    run_id: str = ""


def period_from_metadata(period: str, metadata: Mapping[str, Any], run_id: str = "") -> PeriodDrift:
    """A period's drift from its drift_report metadata (Dagster metadata values or plain values)."""
    values = {key: getattr(value, "value", value) for key, value in metadata.items()}
    columns = sorted(key.removeprefix("score/") for key in values if key.startswith("score/"))
    drifted = {c: (bool(values[f"drifted/{c}"]) if f"drifted/{c}" in values else None) for c in columns}
    return PeriodDrift(
        period=period,
        drift_share=float(values.get("drift_share", math.nan)),
        threshold=float(values.get("drift_share_threshold", math.nan)),
        dataset_drift=bool(values.get("dataset_drift", False)),
        scores={c: float(values[f"score/{c}"]) for c in columns},
        drifted=drifted,
        report=str(values.get("report_html", "-")),
        run_id=run_id,
    )


# --- the table and the chart ----------------------------------------------------------------------------
def trend_frame(periods: Sequence[PeriodDrift]) -> pd.DataFrame:
    """One row a period: drift share, threshold, verdict, then per column its score and drifted flag."""
    import pandas as pd

    columns = sorted({c for w in periods for c in w.scores})
    rows = []
    for w in periods:
        row: dict[str, Any] = {
            "period": w.period, "drift_share": w.drift_share, "threshold": w.threshold, "dataset_drift": w.dataset_drift,
        }  # fmt: skip
        for c in columns:
            row[f"score/{c}"] = w.scores.get(c, math.nan)
            flag = w.drifted.get(c)
            row[f"drifted/{c}"] = math.nan if flag is None else float(flag)
        rows.append(row)
    return pd.DataFrame(rows, columns=["period", "drift_share", "threshold", "dataset_drift",
                                       *(f"score/{c}" for c in columns), *(f"drifted/{c}" for c in columns)])


def frame_columns(frame: pd.DataFrame) -> list[str]:
    """The monitored columns of a trend frame (from its `score/<column>` columns)."""
    return [c.removeprefix("score/") for c in frame.columns if c.startswith("score/")]


def trend_markdown(frame: pd.DataFrame) -> str:
    """The table as markdown: a drifted column's score in bold."""
    columns = frame_columns(frame)
    header = ["period", "drift share", "threshold", "dataset drift", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for values in frame.to_dict("records"):
        cells = [values["period"], f"{values['drift_share']:.2f}", f"{values['threshold']:.2f}",
                 "**yes**" if values["dataset_drift"] else "no"]
        for c in columns:
            score, flag = values[f"score/{c}"], values[f"drifted/{c}"]
            text = "-" if math.isnan(score) else f"{score:.3g}"
            cells.append(f"**{text}**" if flag == 1 else text)
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append("")
    lines.append("Per column: the drift test's score (a p-value or a distance, by method); **bold** = drifted.")
    return "\n".join(lines)


def render_chart(frame: pd.DataFrame, dpi: int = 90, title: str = "Data drift per period") -> bytes:
    """A PNG: drift share per period against the threshold, above a heatmap of which columns drifted when."""
    import io

    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure  # the object API: no pyplot, no GUI backend, safe in any thread

    columns = frame_columns(frame)
    periods = list(frame["period"])
    n = len(periods)
    width = min(24.0, max(8.0, 1.2 + 0.42 * n))
    fig = Figure(figsize=(width, 3.2 + 0.45 * max(len(columns), 1) + 1.0), dpi=dpi, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, max(len(columns), 1) * 0.6 + 0.6])

    x = np.arange(n)
    share = frame["drift_share"].to_numpy(dtype=float)
    threshold = frame["threshold"].to_numpy(dtype=float)
    drifted = frame["dataset_drift"].to_numpy(dtype=bool)
    top.plot(x, share, color="#4a5568", linewidth=1.5, zorder=1)
    top.scatter(x[~drifted], share[~drifted], color="#2f855a", s=46, zorder=2, label="no dataset drift")
    top.scatter(x[drifted], share[drifted], color="#c53030", s=46, zorder=2, label="dataset drift")
    top.step(np.r_[x - 0.5, x[-1] + 0.5] if n else x, np.r_[threshold, threshold[-1]] if n else threshold,
             where="post", color="#c53030", linestyle="--", linewidth=1.2, label="threshold (drift share)")
    top.set_ylim(-0.03, 1.05)
    top.set_ylabel("share of drifted columns")
    top.set_title(title)
    top.grid(axis="y", alpha=0.3)
    top.legend(loc="upper left", fontsize=8, frameon=False, ncols=3)

    flags = np.array([[frame[f"drifted/{c}"].iloc[i] for i in range(n)] for c in columns], dtype=float)
    if not len(columns):
        flags = np.full((1, n), np.nan)
    cmap = ListedColormap(["#c6f6d5", "#feb2b2"]).with_extremes(bad="#e2e8f0")  # grey: not recorded
    bottom.imshow(np.ma.masked_invalid(flags), cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    bottom.set_yticks(range(len(columns)), columns or ["-"])
    bottom.set_title("Drifted columns (red) and each test's score", fontsize=10)
    if n <= ANNOTATE_MAX_PERIODS:
        for row, c in enumerate(columns):
            for col in range(n):
                score = frame[f"score/{c}"].iloc[col]
                if not math.isnan(score):
                    bottom.text(col, row, f"{score:.2g}", ha="center", va="center", fontsize=7, color="#1a202c")
    bottom.set_xticks(x, periods, rotation=60, ha="right", fontsize=8)
    bottom.set_xlim(-0.5, n - 0.5)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def trend_values(periods: Sequence[PeriodDrift]) -> dict[str, Any]:
    """The trend's figures: how many periods and how many drifted, the first and the latest period, and the
    latest drift share (`periods`: oldest first, at least one)."""
    latest = periods[-1]
    return {
        "periods": len(periods),
        "drifted_periods": sum(w.dataset_drift for w in periods),
        "first_period": periods[0].period,
        "latest_period": latest.period,
        "latest_drift_share": latest.drift_share,
    }


def chart_preview(png: bytes, label: str) -> str | None:
    """The chart as a markdown image with a data URL, when it is at most INLINE_CHART_MAX_BYTES; else None."""
    if len(png) > INLINE_CHART_MAX_BYTES:
        return None
    encoded = base64.b64encode(png).decode()
    return f"![drift per {label}](data:image/png;base64,{encoded})"


# --- the model's quality per period: estimated and realized ----------------------------------------------------
PENDING = "pending"


@dataclass(frozen=True)
class PeriodQuality:
    """One period's model quality: the model version that predicted it, its labelled rows, the metric estimated
    before the labels land (with its band) and the realized one, and its labels: "pending" (a late-labels
    monitor's period whose labels have not landed), the date they landed, or "-" (they come with the features)."""

    period: str
    model_version: str = "-"
    labelled_rows: int | None = None
    estimated: float | None = None
    lower: float | None = None
    upper: float | None = None
    realized: float | None = None
    labels: str = "-"


def _plain(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in (metadata or {}).items()}


def landed_date(value: Any) -> str:
    """The date labels landed, from the labels asset's `landed_at` (an ISO text, or a Unix timestamp)."""
    import datetime as dt

    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC).date().isoformat()
    return str(value)[:10] if value else "landed"


def period_quality(period: str, predictions: Mapping[str, Any] | None, labels: Mapping[str, Any] | None,
                   metric: str, late_labels: bool) -> PeriodQuality:
    """A period's row from its latest predictions metadata (`model_version`, `labelled_rows`, `<m>`,
    `estimated_<m>` and its `_lower` / `_upper`) and, for a late-labels monitor, its latest labels metadata (None:
    none landed yet), whose `<m>` (else the predictions' one, re-run after the labels landed), `labelled_rows` and
    `landed_at` then count."""
    p, lab = _plain(predictions), _plain(labels)
    realized_from = lab if late_labels and lab.get(metric) is not None else p

    def number(source: dict, key: str) -> float | None:
        return float(source[key]) if source.get(key) is not None else None

    rows = realized_from.get("labelled_rows", p.get("labelled_rows"))
    return PeriodQuality(
        period=period, model_version=str(p.get("model_version", "-")),
        labelled_rows=int(rows) if rows is not None else None,
        estimated=number(p, f"estimated_{metric}"), lower=number(p, f"estimated_{metric}_lower"),
        upper=number(p, f"estimated_{metric}_upper"), realized=number(realized_from, metric),
        labels=(landed_date(lab.get("landed_at")) if labels is not None else PENDING) if late_labels else "-",
    )


def quality_rows(predictions: Mapping[str, Mapping[str, Any]], labels: Mapping[str, Mapping[str, Any]],
                 metric: str, late_labels: bool) -> list[PeriodQuality]:
    """Every period with a prediction or labels (period -> latest metadata of each), oldest first, that has
    something to show: a realized or estimated value, or (a late-labels monitor) labels pending or landed."""
    found = [period_quality(period, predictions.get(period), labels.get(period), metric, late_labels)
             for period in sorted({*predictions, *labels})]
    return [q for q in found if q.realized is not None or q.estimated is not None or late_labels]


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def quality_markdown(rows: Sequence[PeriodQuality], label: str, estimates: bool, late_labels: bool) -> str:
    """The table: period, model version, labelled rows, then (a monitor that estimates) the estimate with its
    band "0.4123 [0.3900, 0.4350]", the realized value, and (late labels) the labels' state."""
    header = ["period", "model version", "labelled rows"]
    header += [f"estimated {label} [lower, upper]", f"realized {label}"] if estimates else [label]
    header += ["labels"] if late_labels else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for q in rows:
        cells = [q.period, q.model_version, "-" if q.labelled_rows is None else str(q.labelled_rows)]
        if estimates:
            band = f" [{_cell(q.lower)}, {_cell(q.upper)}]" if q.estimated is not None else ""
            cells.append(_cell(q.estimated) + band)
        cells.append(_cell(q.realized))
        cells += [q.labels] if late_labels else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def quality_values(rows: Sequence[PeriodQuality], metric: str) -> dict[str, int | float]:
    """The quality figures: `labels_pending` (periods whose labels have not landed), the latest realized value
    `latest_<m>` and the latest estimate `latest_estimated_<m>` (each when some period has one)."""
    values: dict[str, int | float] = {"labels_pending": sum(q.labels == PENDING for q in rows)}
    realized = [q.realized for q in rows if q.realized is not None]
    estimated = [q.estimated for q in rows if q.estimated is not None]
    if realized:
        values[f"latest_{metric}"] = realized[-1]
    if estimated:
        values[f"latest_estimated_{metric}"] = estimated[-1]
    return values
