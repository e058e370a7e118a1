"""Alerts to Slack through dagster-slack's SlackResource. In its own module so that dagster_slack is imported
only where a Slack token is configured."""

from __future__ import annotations

from typing import Any

from dagster_slack import SlackResource
from pydantic import Field

from drift_platform.resources.alerts import Alerter, _first_line


class SlackAlerter(Alerter):
    """Posts alerts to a Slack channel with chat.postMessage, retrying 5xx, 429 (Retry-After) and
    connection errors a bounded number of times."""

    slack: SlackResource
    channel: str = Field(default="#ml-alerts", description="Channel the alerts go to unless a monitor names its own")
    base_url: str | None = Field(
        default=None, description="Slack API base URL, e.g. a Slack-compatible gateway (ends with /api/)"
    )
    timeout_s: int = Field(default=10, description="Timeout of one HTTP request to Slack")
    max_retries: int = Field(default=2, description="Retries of one message on 5xx, 429 and connection errors")

    def client(self):
        from slack_sdk.http_retry.builtin_handlers import (
            ConnectionErrorRetryHandler,
            RateLimitErrorRetryHandler,
            ServerErrorRetryHandler,
        )

        client = self.slack.get_client()
        if self.base_url:
            client.base_url = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        client.timeout = self.timeout_s
        client.retry_handlers = [
            ConnectionErrorRetryHandler(max_retry_count=self.max_retries),
            RateLimitErrorRetryHandler(max_retry_count=self.max_retries),
            ServerErrorRetryHandler(max_retry_count=self.max_retries),
        ]
        return client

    def send(self, text: str, log: Any, channel: str | None = None) -> bool:
        channel = channel or self.channel
        try:
            self.client().chat_postMessage(channel=channel, text=text, mrkdwn=True)
        except Exception as exc:  # a Slack outage must not crash the caller
            log.error(f"Slack alert to {channel} failed ({type(exc).__name__}: {_first_line(exc)}); will retry")
            return False
        log.info(f"Slack alert posted to {channel}")
        return True
