"""Real servers on loopback, each a separate process stopped by its PID, shared by the tests and the benchmarks
(no pytest here: drift_platform_tests/fixtures/ wrap them in fixtures):

- `loopback.postgres.PostgresServer`: a throwaway PostgreSQL cluster (initdb, pg_ctl);
- `loopback.s3.MotoServer`: moto's S3-compatible server;
- `loopback.dagster_stack.DagsterStack`: the production topology (code server, dagster-webserver,
  dagster-daemon) over `loopback.code_location`.

Not part of the image: the Dockerfile copies drift_platform/ only.
"""

from __future__ import annotations

import socket
import uuid

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago (bind to port 0 and read what the kernel picked)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def unique_name(prefix: str) -> str:
    """`prefix` and 12 random hex digits: a database or bucket name no other test or run uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"
