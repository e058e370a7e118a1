"""A throwaway PostgreSQL cluster on loopback (initdb, pg_ctl), stopped by the postmaster's PID.

It can be stopped and started again on the same port and data dir, for fault-injection tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from loopback import LOOPBACK, free_port

PG_BIN = Path(os.environ.get("DRIFT_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _pid_alive(pid: int) -> bool:
    """True while the process runs. A zombie counts as gone: the postmaster, started by pg_ctl, is a child of
    PID 1, which may take a while to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return not _pid_alive(pid)


class PostgresServer:
    """A PostgreSQL cluster in a temp folder, listening on 127.0.0.1:port (trust auth, superuser `postgres`).

    Run as root, the server runs as the `postgres` OS user (initdb refuses root); its folder is then created
    under the system temp dir, which that user can reach (pytest's own temp root is mode 700 for root only).
    """

    def __init__(
        self,
        base_dir: str | Path | None = None,
        port: int | None = None,
        bin_dir: str | Path = PG_BIN,
        settings: dict[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.bin_dir = Path(bin_dir)
        if not (self.bin_dir / "initdb").exists():
            raise FileNotFoundError(
                f"PostgreSQL server binaries not found in {self.bin_dir} (set DRIFT_PG_BIN)"
            )
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="drift-pg-"))
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "server.log"
        self.host = LOOPBACK
        self.port = port or free_port()
        self.user = "postgres"
        # A throwaway server: durability off makes DDL and loads fast; a crash of the process loses nothing anyway.
        self.settings = {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        }
        self.start_timeout = start_timeout
        self.pid: int | None = None
        self._as_postgres = os.geteuid() == 0

    # --- processes -------------------------------------------------------------------------------------------
    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self._as_postgres else list(args)

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=self.base_dir
        )

    def _initdb(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.base_dir, "postgres", "postgres")
        os.chmod(self.base_dir, 0o700)
        done = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    @property
    def running(self) -> bool:
        return self.pid is not None and _pid_alive(self.pid)

    def start(self) -> PostgresServer:
        """Initialise the cluster on first use, start it on `self.port`, wait until it accepts connections."""
        if self.running:
            return self
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        options = [f"-p {self.port}", f"-k {self.base_dir}", f"-c listen_addresses={self.host}"]
        options += [f"-c {k}={v}" for k, v in self.settings.items()]
        done = self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(int(self.start_timeout)),
            "-o",
            " ".join(options),
            "start",
            timeout=self.start_timeout + 10,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                f"server log:\n{self._log_tail()}"
            )
        self.pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            done = subprocess.run(
                [
                    str(self.bin_dir / "pg_isready"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    "-t",
                    "1",
                ],
                capture_output=True,
            )
            if done.returncode == 0:
                return
            if time.monotonic() > deadline or not self.running:
                raise RuntimeError(f"PostgreSQL on port {self.port} is not ready:\n{self._log_tail()}")
            time.sleep(0.1)

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """`pg_ctl stop -m <mode>`; if that fails, SIGQUIT (immediate shutdown) then SIGKILL to the postmaster."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        if not _pid_alive(pid):
            return
        try:
            done = self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                mode,
                "-w",
                "-t",
                str(int(timeout)),
                "stop",
                timeout=timeout + 10,
            )
            stopped = done.returncode == 0 and _wait_gone(pid, 5)
        except subprocess.TimeoutExpired:
            stopped = False
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            if stopped:
                break
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            stopped = _wait_gone(pid, 10)

    def close(self) -> None:
        """Stop the server and remove its folder (if this object created it)."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def log_text(self) -> str:
        """The whole server log (statements appear here when `log_statement` is on)."""
        return self.log_path.read_text(errors="replace")

    # --- databases -------------------------------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres"):
        """A psycopg2 connection in autocommit mode."""
        import psycopg2

        conn = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname=dbname, connect_timeout=10
        )
        conn.autocommit = True
        return conn

    def execute(self, statement: str, dbname: str = "postgres", params: Any = None) -> list[tuple]:
        """Run one statement (autocommit) and return its rows, if any."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Create a database and return its SQLAlchemy URL."""
        from psycopg2 import sql

        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        return self.url(name)

    def drop_database(self, name: str) -> None:
        from psycopg2 import sql

        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        finally:
            conn.close()
