"""A user's classifiers, named by a setting, reach the API."""

from __future__ import annotations

from pathlib import Path

import httpx

from inferql.app import create_app
from inferql.settings import Settings

SUPPORT = """
name = "support"
version = "3"
description = "Routes customer messages."
head = "prototype"
encoder = "all-MiniLM-L6-v2"

[[labels]]
name = "billing"
examples = ["I was charged twice", "refund my payment"]

[[labels]]
name = "bug"
examples = ["The app crashes on start", "error 500 when I save"]
"""


async def test_classifiers_from_the_settings_path_are_served(tmp_path: Path) -> None:
    (tmp_path / "support.toml").write_text(SUPPORT)
    settings = Settings.model_validate({"classifiers_path": tmp_path, "run_worker": False})
    app = create_app(settings)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/graphql", json={"query": "{ models { name head labels latest { version } } }"}
        )

    models = {m["name"]: m for m in response.json()["data"]["models"]}
    assert models["support"] == {
        "name": "support",
        "head": "PROTOTYPE",
        "labels": ["billing", "bug"],
        "latest": {"version": "3"},
    }
    assert {"sentiment", "topic"} <= set(models)
