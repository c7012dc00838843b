"""Metrics: several processes add up through PROMETHEUS_MULTIPROC_DIR, and a
client cannot grow the operation-name label without bound."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client import multiprocess

from inferql.observability import metrics
from tests.support import free_port

RECORD = (
    "import os\n"
    "from inferql.observability import metrics\n"
    "metrics.JOBS_SUBMITTED.labels(model='m@1').inc(3)\n"
    "metrics.WEBSOCKET_CONNECTIONS.inc()\n"
    "print(os.getpid())\n"
)
RENDER = (
    "from inferql.observability import metrics\n"
    "import sys\n"
    "sys.stdout.write(metrics.render()[0].decode())\n"
)


def run(code: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_processes_sharing_a_multiproc_dir_add_up(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    pids = [int(run(RECORD, env)), int(run(RECORD, env))]

    exposition = run(RENDER, env)
    for pid in pids:  # what a process manager does as each worker exits (README)
        multiprocess.mark_process_dead(pid, str(tmp_path))  # type: ignore[no-untyped-call]
    after_exit = run(RENDER, env)

    assert 'inferql_jobs_submitted_total{model="m@1"} 6.0' in exposition
    assert "inferql_websocket_connections 2.0" in exposition
    # Counters outlive their process; the open connections of a dead one do not.
    assert 'inferql_jobs_submitted_total{model="m@1"} 6.0' in after_exit
    assert "inferql_websocket_connections 2.0" not in after_exit


def test_a_single_process_renders_its_own_registry() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    exposition = run(RECORD + RENDER, env)
    assert 'inferql_jobs_submitted_total{model="m@1"} 3.0' in exposition
    assert "inferql_websocket_connections 1.0" in exposition


def test_label_values_past_the_limit_count_as_other() -> None:
    label = metrics.BoundedLabel(limit=3)

    first = [label(name) for name in ("A", "B", "C", "D", "E")]

    assert first == ["A", "B", "C", "other", "other"]
    assert label("B") == "B"  # a known value stays itself
    assert metrics.operation_label(None) == metrics.operation_label("") == "anonymous"


def test_a_process_without_a_web_server_serves_its_metrics_on_a_port() -> None:
    port = free_port()
    server = metrics.serve_metrics(port, "127.0.0.1")
    try:
        metrics.BATCH_SIZE.labels(model="served@1").observe(7)
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()

    assert response.status_code == 200
    assert 'inferql_batch_size_texts_sum{model="served@1"} 7.0' in response.text
