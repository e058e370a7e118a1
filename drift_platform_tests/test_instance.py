"""drift_platform/instance/storage.py: the production dagster.yaml's PostgreSQL storage keeps a connection per process (dagster-
postgres alone opens one per query), and survives a server restart. The whole production topology runs on it in
test_e2e_production.py and test_e2e_lifecycle.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import dagster as dg
import pytest

from loopback.dagster_stack import REPO
from loopback.postgres import PostgresServer


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as postgres:  # its own: the test restarts it
        postgres.create_database("dagster")
        yield postgres


def instance_on(server: PostgresServer, home, monkeypatch) -> dg.DagsterInstance:
    """An instance made from the production dagster.yaml, as the daemon, the webserver and every run make it."""
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    for name, value in {"USER": "postgres", "PASSWORD": "unused", "HOST": server.host, "PORT": str(server.port),
                        "DB": "dagster"}.items():
        monkeypatch.setenv(f"DAGSTER_POSTGRES_{name}", value)
    return dg.DagsterInstance.from_config(str(home))


def connections_made(server: PostgresServer) -> int:
    return server.execute("SELECT sessions FROM pg_stat_database WHERE datname = 'dagster'")[0][0]


@dg.asset(partitions_def=dg.StaticPartitionsDefinition([f"p{i}" for i in range(20)]))
def numbered(context) -> None:
    context.log.info(f"partition {context.partition_key}")


def test_the_production_storage_keeps_a_connection_per_process(server, tmp_path, monkeypatch) -> None:
    from drift_platform.instance.storage import PooledPostgresStorage

    instance = instance_on(server, tmp_path, monkeypatch)
    assert isinstance(instance.get_ref().storage, PooledPostgresStorage)  # what a run's process rebuilds
    before = connections_made(server)
    for partition in numbered.partitions_def.get_partition_keys():  # 20 runs, ~10 events each
        assert dg.materialize([numbered], instance=instance, partition_key=partition).success
    assert len(instance.get_run_records()) == 20 and instance.get_latest_materialization_event(numbered.key)
    # ~1 a run (a connection a storage asks for while its first is out is closed again after); dagster-postgres's
    # own NullPool storage opens one for every query and event: ~700 here
    assert connections_made(server) - before < 50


def test_a_restarted_server_costs_a_reconnect_not_an_error(server, tmp_path, monkeypatch) -> None:
    instance = instance_on(server, tmp_path, monkeypatch)
    assert dg.materialize([numbered], instance=instance, partition_key="p0").success
    server.stop()
    server.start()
    assert dg.materialize([numbered], instance=instance, partition_key="p1").success
    assert len(instance.get_run_records()) == 2
