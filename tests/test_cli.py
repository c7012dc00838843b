"""The inferql command, run as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
INFERQL = [sys.executable, "-m", "inferql.cli"]


def test_export_schema_prints_the_committed_sdl(tmp_path: Path) -> None:
    out = tmp_path / "schema.graphql"
    subprocess.run([*INFERQL, "export-schema", "--output", str(out)], check=True, timeout=60)
    printed = subprocess.run(
        [*INFERQL, "export-schema"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    assert out.read_text() == printed == (ROOT / "schema.graphql").read_text()


def test_serve_takes_flags_over_the_environment() -> None:
    env_port, flag_port = free_port(), free_port()
    env = {**os.environ, "INFERQL_PORT": str(env_port), "INFERQL_RUN_WORKER": "false"}
    process = subprocess.Popen(
        [*INFERQL, "serve", "--port", str(flag_port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{flag_port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        ready = httpx.get(f"http://127.0.0.1:{flag_port}/readyz", timeout=5)
        assert ready.json()["checks"] == {"backend": "ok"}  # no worker, no model
    finally:
        process.terminate()
        process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM)


def test_invalid_settings_are_refused_clearly() -> None:
    result = subprocess.run(
        [*INFERQL, "serve", "--port", "not-a-port"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "port" in result.stderr
