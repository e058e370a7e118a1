"""Where alerts go: the log when no Slack token is configured; Slack through dagster-slack (resources/slack.py,
imported only where a token is set).

Sending never raises: a Slack outage must not stop a retrain nor crash a sensor tick. `send` says whether the
message was delivered, so the caller can keep undelivered alerts and try them again later.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field


class Alerter(dg.ConfigurableResource):
    """Writes alerts to the log (the embedded default: no Slack token, no network)."""

    dagster_ui_url: str = Field(
        default="http://localhost:3000", description="Base URL of the Dagster UI, for links in alerts"
    )

    def run_url(self, run_id: str) -> str:
        return f"{self.dagster_ui_url.rstrip('/')}/runs/{run_id}"

    def send(self, text: str, log: Any, channel: str | None = None) -> bool:
        """Deliver one message (to `channel`, or the default one); True once it is delivered."""
        log.warning(f"ALERT (no Slack token configured, logged only{f'; for {channel}' if channel else ''}):\n{text}")
        return True


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
