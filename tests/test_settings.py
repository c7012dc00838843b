"""Settings: one object, from the environment, documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from inferql.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = README.read_text()
    for name in Settings.model_fields:
        assert f"`INFERQL_{name.upper()}`" in readme, f"README lacks INFERQL_{name.upper()}"
        assert f"`--{name.replace('_', '-')}" in readme, f"README lacks --{name}"


def test_settings_come_from_inferql_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERQL_PORT", "9123")
    monkeypatch.setenv("INFERQL_RUN_WORKER", "false")
    settings = Settings()
    assert (settings.port, settings.run_worker, settings.host) == (9123, False, "127.0.0.1")


def test_bad_values_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERQL_MAX_BATCH_TEXTS", "0")
    with pytest.raises(ValidationError, match="max_batch_texts"):
        Settings()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, (4, 1)),  # one call per core, one thread each
        ({"model_threads": 2}, (2, 2)),
        ({"model_threads": 8}, (1, 8)),
        ({"model_calls": 1}, (1, 4)),  # one call at a time on every core
        ({"model_calls": 3}, (3, 1)),
        ({"model_calls": 2, "model_threads": 3}, (2, 3)),  # both given: as given
    ],
)
def test_model_parallelism_fills_the_cores(
    monkeypatch: pytest.MonkeyPatch, given: dict[str, int], expected: tuple[int, int]
) -> None:
    monkeypatch.setattr("inferql.settings.available_cores", lambda: 4)
    assert Settings.model_validate(given).model_parallelism == expected


@pytest.mark.parametrize(
    ("given", "enabled"),
    [
        ({}, False),  # the embedded backend, no keys: a laptop
        ({"redis_url": "redis://127.0.0.1:6379/0"}, True),  # keys may live in Redis
        ({"redis_url": "redis://127.0.0.1:6379/0", "auth": "off"}, False),  # said so
        ({"api_keys_file": "keys.json"}, True),
        ({"auth": "on"}, True),
    ],
    ids=["embedded", "redis", "redis-off", "keys-file", "on"],
)
def test_auto_authentication_is_on_wherever_keys_may_be(
    given: dict[str, str], enabled: bool
) -> None:
    assert Settings.model_validate(given).auth_enabled is enabled
