"""Processes of a benchmark: free ports, a server started as a subprocess and
waited for, and a process's CPU time and memory read from /proc."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def wait_idle(
    pids: Iterable[int], *, share: float = 0.05, window: float = 0.25, timeout: float = 10.0
) -> float:
    """Wait until ``pids`` together use less than ``share`` of a core over
    ``window`` seconds, at most ``timeout``: a server goes on with the requests a
    load run left in flight after its clients have gone, for up to a model call
    of each. Returns the seconds waited."""
    pids = list(pids)
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        before = sum(cpu_seconds(pid) for pid in pids)
        time.sleep(window)
        if sum(cpu_seconds(pid) for pid in pids) - before < share * window:
            break
    return time.monotonic() - began


def own_cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of ``pid`` in MB (``VmHWM``: its peak)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of every benchmark process: numpy's BLAS on one thread (so
    it does not fight the model's), no INFERQL_* leaking in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERQL_")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update(extra)
    return env


@dataclass
class Server:
    """A started process that answers HTTP on ``port``."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def started(
    argv: Sequence[str], port: int, env: dict[str, str], ready_path: str = "/readyz"
) -> Iterator[Server]:
    """Run ``argv`` until the block ends; ready once ``ready_path`` answers 200."""
    process = subprocess.Popen(list(argv), env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}{ready_path}", process)
        yield Server(process, port)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited 15 s later."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def inferql_serve(port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "inferql.cli", "serve", "--port", str(port), *flags]


def inferql_worker(*flags: str) -> list[str]:
    return [sys.executable, "-m", "inferql.cli", "worker", *flags]
