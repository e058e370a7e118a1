"""What the champion/challenger gate and the registry's hand operations report: plain values and texts, no
Dagster.

`lib/assets/champion_model.py` turns the gate's facts into metadata and the Slack message; `lib/ops/registry.py`
sends the rollback message and shows the versions table and the audit table. The comparison and the decision
are in `core/ml/training.py` (`compare_models`, `decide`), the pointer and the audit log in
`core/ml/model_registry.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drift_platform.core.ml.metrics import METRICS
from drift_platform.core.ml.model_registry import metric
from drift_platform.core.names import TAG_EVALUATION_ID, TAG_PERIOD, TAG_TRIGGER


def fmt_score(value: float | None, spec: str = ".4f") -> str:
    """A score as text; "-" when there is none."""
    return "-" if value is None else format(value, spec)


def metric_of(manifest: dict[str, Any] | None) -> str:
    """The metric a model was trained with (its manifest's; rmsle before manifests recorded it)."""
    return (manifest or {}).get("metric") or "rmsle"


def holdout_of(manifest: dict[str, Any] | None) -> float | None:
    """A model's holdout value of its own metric, from its manifest."""
    return metric(manifest, f"holdout_{metric_of(manifest)}") if manifest else None


def seen_until(manifest: dict[str, Any]):
    """The last datetime the model's fit saw (its training part); older manifests only have the window's
    end."""
    import pandas as pd

    value = manifest.get("train_end") or manifest.get("window_end")
    return pd.Timestamp(value) if value else None


def gate_facts(
    tags: Mapping[str, str],
    comparison: Any,
    decision: Any,
    challenger: str,
    champion_before: str | None,
    min_improvement: float,
    in_service_manifest: dict[str, Any] | None,
) -> dict[str, Any]:
    """What a gate found and did, from the run's tags, the comparison (`GateComparison`) and the decision
    (`GateDecision`): the input of the metadata and of the Slack message. Scores are of the comparison's
    metric (`metric`); the holdout is the in-service model's own metric's."""
    return {
        "metric": comparison.metric,
        "period": tags.get(TAG_PERIOD, "-"), "trigger": tags.get(TAG_TRIGGER, "manual"),
        "evaluation_id": tags.get(TAG_EVALUATION_ID, "-"), "promoted": decision.promote,
        "challenger": challenger, "champion_before": champion_before,
        "in_service": challenger if decision.promote else champion_before,
        "challenger_score": comparison.challenger_score, "champion_score": comparison.champion_score,
        "periods": comparison.periods, "eval_rows": comparison.eval_rows,
        "min_improvement": min_improvement, "reason": decision.reason,
        "champion_holdout": holdout_of(in_service_manifest),
        "champion_holdout_metric": metric_of(in_service_manifest),
    }  # fmt: skip


def gate_alert(monitor: str, facts: dict[str, Any], run_url: str) -> str:
    """The Slack message of a retrain's outcome."""
    head = (
        f"*[{monitor}] Retrain for period {facts['period']}* (trigger: {facts['trigger']}, "
        f"evaluation {facts['evaluation_id']})"
    )
    if facts["promoted"]:
        first = f":white_check_mark: {head}: challenger `{facts['challenger']}` *promoted* to champion"
        if facts["champion_before"]:
            first += f" (replaces `{facts['champion_before']}`)"
    else:
        first = (
            f":information_source: {head}: champion `{facts['champion_before']}` *kept*; "
            f"challenger `{facts['challenger']}` not promoted"
        )
    periods, label = ", ".join(facts["periods"]), METRICS[facts["metric"]].label
    if facts["champion_score"] is not None:
        scores = (
            f"{label} challenger {fmt_score(facts['challenger_score'])} "
            f"vs champion {fmt_score(facts['champion_score'])} "
            f"on period(s) {periods} ({facts['eval_rows']} labelled rows neither was fitted on; "
            f"margin {facts['min_improvement']:.1%})"
        )
    elif facts["challenger_score"] is not None:
        scores = (
            f"{label} challenger {fmt_score(facts['challenger_score'])} on period(s) {periods}; "
            "no champion to compare with"
        )
    else:
        scores = "no scores"
    return (
        f"{first}\n{scores}\nReason: {facts['reason']}\n"
        f"Holdout {METRICS[facts['champion_holdout_metric']].label} of the champion now in service: "
        f"{fmt_score(facts['champion_holdout'])}\n"
        f"Retrain run: {run_url}"
    )


def rollback_alert(
    monitor: str, before: str | None, target: str, holdout: float | None, reason: str, run_url: str,
    metric_name: str = "rmsle",
) -> str:
    """The Slack message of a rollback from `before` to `target` (its holdout value of `metric_name`)."""
    return (
        f":rewind: *[{monitor}] Champion rolled back* from `{before}` to `{target}` (holdout "
        f"{METRICS[metric_name].label} {fmt_score(holdout)}): {reason}\nRun: {run_url}"
    )


def versions_table(rows: list[dict[str, Any]], champion: str | None, latest: str | None) -> str:
    """Every model version as a markdown table: status (champion, latest, incomplete), window, the
    hyperparameters its search chose, its holdout value of its metric, hashes."""
    lines = [
        "| version | status | created | window | history rows | hyperparameters | holdout | data sha256 | code |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        status = ", ".join(s for s, v in (("champion", champion), ("latest", latest)) if v == row["version"])
        complete = row.get("complete", True)
        if not complete:
            status = "incomplete (no manifest or artifact)"
        window = (
            f"{str(row.get('window_start', ''))[:10]} .. {str(row.get('window_end', ''))[:10]}"
            if row.get("window_start")
            else "-"
        )
        chosen = (row.get("hyperparameters") or {}).get("params")
        alpha = (", ".join(f"{k}={v}" for k, v in chosen.items()) or "-") if chosen is not None else (
            f"alpha={(row.get('hyperparameters') or {}).get('alpha', row.get('best_alpha', '-'))}")
        value = holdout_of(row) if complete else None
        holdout = "-" if value is None else f"{METRICS[metric_of(row)].label} {value:.4f}"
        lines.append(
            f"| {row['version']} | {status or '-'} | {str(row.get('created_at', '-'))[:19]} | {window} | "
            f"{row.get('history_rows', '-')} | {alpha} | {holdout} | "
            f"{str(row.get('data_sha256', '-'))[:12]} | {row.get('code_version', '-')} |"
        )
    return "\n".join(lines)


def audit_table(entries: list[dict[str, Any]]) -> str:
    """Audit log entries (champion changes) as a markdown table, in the order given."""
    return "\n".join(
        ["| at | action | from | to | reason | run |", "|---|---|---|---|---|---|"]
        + [
            f"| {e.get('at', '-')[:19]} | {e.get('action')} | {e.get('from') or '-'} | {e.get('to')} | "
            f"{e.get('reason', '-')} | {e.get('run_id') or '-'} |"
            for e in entries
        ]
    )
