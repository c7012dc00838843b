"""A real redis-server for the tests: started on a free port in a temporary
directory, and stopped, killed and restarted (same port, same data) by the
tests about faults."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support import free_port


class RedisServer:
    def __init__(self, directory: Path, *, appendonly: bool = False) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed; `make test` installs it")
        self.executable = executable
        self.directory = directory
        self.appendonly = appendonly
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "everysec",
                "--logfile",
                str(self.directory / "redis.log"),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_answering()

    def stop(self) -> None:
        """Shut down the way an orchestrator does (SIGTERM), and wait."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Die at once (SIGKILL): nothing is flushed beyond what was written."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self.process is None:
            return
        self.process.send_signal(signum)
        self.process.wait(timeout=10)
        self.process = None

    def _wait_until_answering(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.directory / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start in time")
