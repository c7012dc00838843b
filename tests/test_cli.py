"""The inferql command, run as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.support import free_port, self_signed_certificate

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


def test_keys_create_list_and_revoke(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*INFERQL, "keys", *args, "--api-keys-file", str(keys_file)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = keys("create", "--name", "web", "--owner", "acme", "--scopes", "classify")
    fields = dict(line.split(":", 1) for line in created.stdout.splitlines())
    key, key_id = fields["api key"].strip(), fields["key id"].strip()
    listed = keys("list")
    revoked = keys("revoke", key_id)
    after = keys("list")
    secret = keys("webhook-secret", "acme")
    unknown = keys("create", "--name", "x", "--owner", "acme", "--scopes", "root")

    assert created.returncode == 0 and key.startswith("iqk_")
    assert "shown this once" in created.stderr
    assert key not in keys_file.read_text()  # only its hash is stored
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    assert [key_id, "web", "acme", "classify", "active"] == [
        listed.stdout.splitlines()[1].split()[i] for i in (0, 1, 2, 3, 6)
    ]
    assert revoked.returncode == 0 and "revoked" in after.stdout.splitlines()[1]
    assert secret.stdout.strip() == fields["webhook secret"].strip()
    assert unknown.returncode == 2


def test_keys_need_somewhere_to_keep_them() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERQL_")}
    result = subprocess.run(
        [*INFERQL, "keys", "list"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    assert "INFERQL_API_KEYS_FILE" in result.stderr


def test_serve_speaks_https_and_wss_with_a_certificate(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    port = free_port()
    flags = ["--port", str(port), "--no-run-worker", "--log-level", "warning"]
    tls = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    process = subprocess.Popen(
        [*INFERQL, "serve", *flags, *tls], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    health = client.get("/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
            answer = client.post("/graphql", json={"query": "{ __typename }"})
        with connect(
            f"wss://127.0.0.1:{port}/graphql",
            ssl=trust,
            subprotocols=[Subprotocol("graphql-transport-ws")],
        ) as ws:
            ws.send(json.dumps({"type": "connection_init"}))
            ack = json.loads(ws.recv(timeout=10))
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served on that port
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        process.terminate()
        process.communicate(timeout=30)

    assert health.json() == {"status": "ok"}
    assert answer.json() == {"data": {"__typename": "Query"}}
    assert ack == {"type": "connection_ack"}


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    result = subprocess.run(
        [*INFERQL, "serve", "--ssl-certfile", str(cert)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "ssl_certfile and ssl_keyfile" in result.stderr
