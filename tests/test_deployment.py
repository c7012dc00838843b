"""docker-compose.yml, checked by docker-compose itself (no engine needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]


def compose_config() -> dict[str, Any]:
    executable = shutil.which("docker-compose")
    assert executable, "docker-compose is not installed; `make test` installs it"
    printed = subprocess.run(
        [executable, "-f", str(ROOT / "docker-compose.yml"), "config"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    config: dict[str, Any] = yaml.safe_load(printed)
    return config


def test_compose_runs_redis_an_api_and_workers_from_one_image() -> None:
    services = compose_config()["services"]

    assert set(services) == {"redis", "api", "worker"}
    assert services["api"]["command"] == ["inferql", "serve"]
    assert services["worker"]["command"] == ["inferql", "worker"]
    for name in ("api", "worker"):
        assert services[name]["build"]["context"] == str(ROOT)
        assert services[name]["environment"]["INFERQL_REDIS_URL"] == "redis://redis:6379/0"
    # The API never serves anonymous requests (keys live in Redis).
    assert services["api"]["environment"]["INFERQL_AUTH"] == "on"
    redis_flags = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_flags
    assert "--maxmemory-policy noeviction" in redis_flags
