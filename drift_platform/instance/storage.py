"""The production Dagster instance's storage (dagster.yaml `storage: custom`): Dagster's PostgreSQL storage, each
process keeping its connection open instead of opening one per query.

dagster-postgres makes its run, event-log and schedule storages with SQLAlchemy's NullPool ("to prevent
accumulating connections per DagsterInstance"): every query, every event a run writes, every poll of the daemon
opens a new connection, and each new connection is a PostgreSQL backend forked and warmed up. Measured on the
production topology (docs/benchmarks.md, "Backfills at speed"): an idle stack made ~17 connections a second, a
backfill of 100 weeks ~80 a second, and PostgreSQL's backends took 34-39 s of CPU of the backfill's 66-73 s on 2
CPUs. Here each storage keeps one connection a process (more only while threads of one process query at once, closed
again after), checked before use (`pool_pre_ping`: a server restarted meanwhile costs a reconnect, not an error)
and renewed hourly: the same backfill makes ~600 connections, PostgreSQL takes ~4 s of CPU.

A process makes one instance (the daemon, the webserver, the code server, each run), so connections stay
bounded: a few a process. The webserver replaces these engines with its own pooled ones
(`optimize_for_webserver`), as before.
"""

from __future__ import annotations

from typing import Any

from dagster_postgres import DagsterPostgresStorage

POOL = {"pool_size": 1, "max_overflow": 10, "pool_pre_ping": True, "pool_recycle": 3600}


class PooledPostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage (the same config: `postgres_db` or `postgres_url`) with a connection pool per storage."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from dagster_postgres.utils import create_pg_engine

        super().__init__(*args, **kwargs)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine.dispose()  # noqa: SLF001 - the NullPool engine dagster-postgres made
            storage._engine = create_pg_engine(  # noqa: SLF001
                storage.postgres_url, storage._token_provider, isolation_level="AUTOCOMMIT", **POOL  # noqa: SLF001
            )

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledPostgresStorage:
        from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
