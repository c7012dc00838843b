"""inferql processes for the scale-out tests: ``inferql serve`` and ``inferql
worker`` started as a user starts them, each logging to its own file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from inferql.backends.redis.keys import WORKERS_GROUP, Keys
from tests.support import free_port


class InferqlProcess:
    def __init__(self, command: str, log: Path, *flags: str) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "inferql.cli", command, *flags],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith("INFERQL_")},
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def check_alive(self) -> None:
        assert self.alive(), f"{self.log.name} exited:\n{self.log_tail()}"


class ApiProcess(InferqlProcess):
    def __init__(self, log: Path, *flags: str) -> None:
        self.port = free_port()
        super().__init__("serve", log, "--port", str(self.port), "--log-level", "warning", *flags)
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        """Wait until /readyz answers 200; its body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    body: dict[str, Any] = response.json()
                    return body
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.log.name} not ready:\n{self.log_tail()}")


class WorkerProcess(InferqlProcess):
    def __init__(self, log: Path, *flags: str) -> None:
        super().__init__("worker", log, "--log-level", "info", *flags)

    def wait_ready(self, inspector: RedisInspector, timeout: float = 90) -> None:
        """Ready once its heartbeat is in Redis: it has loaded the model and taken."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.pid in inspector.live_worker_pids():
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.log.name} not ready:\n{self.log_tail()}")


class RedisInspector:
    """Reads the backend's Redis state for assertions, by the backend's key names."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client: Any = redis.Redis.from_url(url, decode_responses=True)
        self.keys = Keys(prefix)

    def live_worker_pids(self) -> set[int]:
        return {
            int(name.rsplit(":", 2)[1]) for name in self.client.zrange(self.keys.workers, 0, -1)
        }

    def pending_by_pid(self) -> dict[int, int]:
        """Jobs delivered and not yet acknowledged, per worker process."""
        try:
            summary = self.client.xpending(self.keys.queue, WORKERS_GROUP)
        except redis.ResponseError:
            return {}
        return {
            int(consumer["name"].rsplit(":", 2)[1]): int(consumer["pending"])
            for consumer in summary["consumers"]
        }

    def pending(self) -> int:
        return int(self.client.xpending(self.keys.queue, WORKERS_GROUP)["pending"])

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.client.hgetall(self.keys.counters).items()}

    def dead_letters(self) -> int:
        return int(self.client.xlen(self.keys.dead_letters))

    def close(self) -> None:
        self.client.close()
