"""moto's S3-compatible server on loopback, a child process stopped by its PID.

It can be stopped and started again on the same port; moto keeps its state in memory: buckets do not survive
its restart.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from loopback import LOOPBACK, free_port


class MotoServer:
    """moto's S3-compatible server (`moto_server -H 127.0.0.1 -p PORT`) as a child process."""

    access_key = "testing"
    secret_key = "testing"
    region = "us-east-1"

    def __init__(
        self,
        port: int | None = None,
        host: str = LOOPBACK,
        executable: str | Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.executable = str(executable or self._find_executable())
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None
        self._log = None

    @staticmethod
    def _find_executable() -> str:
        beside = Path(sys.executable).parent / "moto_server"
        found = str(beside) if beside.exists() else shutil.which("moto_server")
        if not found:
            raise FileNotFoundError("moto_server not found: pip install 'moto[server]'")
        return found

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> MotoServer:
        if self.running:
            return self
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - held for the life of the process, closed in stop()
        self._proc = subprocess.Popen(
            [self.executable, "-H", self.host, "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with urllib.request.urlopen(self.endpoint_url + "/", timeout=1) as response:
                    if response.status < 500:
                        return self
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return self
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                output = self._output()
                self.stop()
                raise RuntimeError(f"moto_server on port {self.port} did not come up:\n{output}")
            time.sleep(0.1)

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the PID, SIGKILL if it is still there after `timeout` seconds."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def client(self):
        """A boto3 S3 client for this server (dummy credentials)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def s3_resource(self):
        """dagster-aws' S3Resource pointed at this server."""
        from dagster_aws.s3 import S3Resource

        return S3Resource(
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name
