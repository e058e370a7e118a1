"""A durable record of which alerts were delivered, in the Dagster instance's own key-value storage (run
storage: PostgreSQL in production), written the moment Slack accepts an alert.

The sensor's cursor is saved only when its whole tick is done (after the daemon has launched the tick's runs),
so a daemon that dies in between would evaluate the same failures again: the run_key keeps the retrain from
launching twice, and this ledger keeps the alert from being sent twice. What is left is the few milliseconds
between Slack's answer and the ledger write; a crash there sends the alert again (at least once, never lost).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

PREFIX = "drift_platform/alert_sent/"


def _key(monitor: str, alert_id: str) -> str:
    return f"{PREFIX}{monitor}/{alert_id}"


def was_sent(instance: dg.DagsterInstance, monitor: str, alert_id: str) -> bool:
    key = _key(monitor, alert_id)
    return key in instance.daemon_cursor_storage.get_cursor_values({key})


def mark_sent(instance: dg.DagsterInstance, monitor: str, alert_id: str) -> None:
    instance.daemon_cursor_storage.set_cursor_values({_key(monitor, alert_id): dt.datetime.now(dt.UTC).isoformat()})
