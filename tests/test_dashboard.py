"""The /dashboard page, end to end: a real server with the real model, the built
page in headless Chromium (tests/browser.py), and a person's clicks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferql.app import DASHBOARD_DIR
from inferql.backends.keyfile import FileKeyStore
from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry
from inferql.security.apikeys import generate_key
from inferql.settings import Settings
from tests.browser import Chromium
from tests.support import RunningServer, free_port

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def server(model_registry: ModelRegistry, catalog: Catalog) -> Iterator[RunningServer]:
    if not (DASHBOARD_DIR / "index.html").is_file():
        pytest.fail("the dashboard is not built: run `make install` (npm ci && npm run build)")
    settings = Settings.model_validate({"port": free_port(), "max_wait_ms": 10})
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


def q(selector: str) -> str:
    """JavaScript for the element ``selector`` picks."""
    return f"document.querySelector({json.dumps(selector)})"


async def test_the_page_is_served_with_its_assets(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        redirect = await http.get("/dashboard")
        page = await http.get("/dashboard/")
        script = await http.get("/dashboard/app.js")

    assert redirect.status_code == 307 and redirect.headers["location"].endswith("/dashboard/")
    assert page.status_code == 200 and "<title>inferql dashboard</title>" in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


@pytest.mark.timeout(240)
async def test_a_text_submitted_on_the_page_is_classified_live(server: RunningServer) -> None:
    text = "The concert last night was absolutely wonderful, I loved every minute"
    async with Chromium() as page:
        try:
            await page.navigate(f"{server.url}/dashboard/")
            await page.wait_for(f"{q('[data-testid=connection]')}.dataset.state === 'live'")
            before = int(
                await page.wait_for(
                    f"(t => t !== '–' && t)({q('[data-testid=stat-succeeded]')}.textContent)"
                )
            )
            await page.wait_for(f"{q('#model')}.options.length > 0")

            await page.type_text("[data-testid=submit-text]", text)
            await page.click("[data-testid=submit-button]")

            job_id = await page.wait_for(f"{q('[data-testid=result]')}.dataset.jobId")
            row = f"document.querySelector('tr[data-job-id=\"{job_id}\"]')"
            await page.wait_for(f"{row} !== null")  # the job appears in the live table
            await page.wait_for(f"{row}.dataset.status === 'SUCCEEDED'")
            table_label = await page.evaluate(f"{row}.querySelector('.label').textContent")
            result_label = await page.wait_for(f"{q('[data-testid=result-label]')}?.textContent")
            steps = await page.evaluate(
                f"[...{q('[data-testid=result] .steps')}.querySelectorAll('.badge')]"
                ".map(b => b.textContent)"
            )
            # The stats change: the succeeded count grows and so does throughput.
            after = int(
                await page.wait_for(
                    f"(n => n > {before} && n)"
                    f"(Number({q('[data-testid=stat-succeeded]')}.textContent))"
                )
            )
            throughput = float(
                await page.evaluate(f"{q('[data-testid=stat-throughput]')}.textContent")
            )
        finally:
            await page.screenshot(ARTIFACTS / "dashboard.png")

    assert table_label == result_label == "positive"
    assert steps[-1] == "SUCCEEDED" and steps[0] in ("QUEUED", "STARTED")
    assert after > before
    assert throughput > 0
    # The page told the truth: the server holds the same job with the same answer.
    async with httpx.AsyncClient(base_url=server.url) as http:
        body = (
            await http.post(
                "/graphql",
                json={
                    "query": "query($id: ID!) { job(id: $id) { status predictions { label } } }",
                    "variables": {"id": job_id},
                },
            )
        ).json()
    assert body["data"]["job"] == {"status": "SUCCEEDED", "predictions": [{"label": "positive"}]}
    assert not [line for line in page.console if line.startswith("uncaught")], page.console


async def test_the_api_key_is_kept_for_the_session_and_sent_like_any_client(
    server: RunningServer,
) -> None:
    async with Chromium() as page:
        await page.navigate(f"{server.url}/dashboard/")
        await page.wait_for(f"{q('[data-testid=connection]')}.dataset.state === 'live'")

        await page.type_text("[data-testid=api-key]", "iq_test_key")
        await page.click("#key-form button[type=submit]")
        stored = await page.evaluate("sessionStorage.getItem('inferql.apiKey')")

        def sent_with_key() -> tuple[bool, bool]:
            http = any(
                r["request"]["url"].endswith("/graphql")
                and r["request"]["headers"].get("Authorization") == "Bearer iq_test_key"
                for r in page.events_named("Network.requestWillBeSent")
            )
            ws = any(
                json.loads(f["response"]["payloadData"]).get("payload")
                == {"Authorization": "Bearer iq_test_key"}
                for f in page.events_named("Network.webSocketFrameSent")
                if '"connection_init"' in f["response"]["payloadData"]
            )
            return http, ws

        # The page reconnects and reloads its data with the key.
        await page.until(lambda: sent_with_key() == (True, True), timeout=15)
        reloaded = await page.evaluate("sessionStorage.getItem('inferql.apiKey')")

    assert stored == reloaded == "iq_test_key"


@pytest.fixture(scope="module")
def locked_server(model_registry: ModelRegistry, catalog: Catalog) -> Iterator[RunningServer]:
    """A server that runs only registered operations: the dashboard's manifest."""
    manifest = DASHBOARD_DIR / "operations.json"
    if not manifest.is_file():
        pytest.fail("the dashboard is not built: run `make install` (npm ci && npm run build)")
    settings = Settings.model_validate(
        {"port": free_port(), "max_wait_ms": 10, "allowed_operations_path": manifest}
    )
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


@pytest.mark.timeout(240)
async def test_the_page_works_where_only_its_own_operations_may_run(
    locked_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=locked_server.url) as http:
        other = (await http.post("/graphql", json={"query": "{ models { name } }"})).json()
    assert other["errors"][0]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"

    async with Chromium() as page:
        await page.navigate(f"{locked_server.url}/dashboard/")
        await page.wait_for(f"{q('[data-testid=stat-succeeded]')}.textContent !== '–'")
        await page.wait_for(f"{q('#model')}.options.length > 0")
        await page.type_text("[data-testid=submit-text]", "What a miserable, rainy and awful day")
        await page.click("[data-testid=submit-button]")
        label = await page.wait_for(f"{q('[data-testid=result-label]')}?.textContent")
        banner_hidden = await page.evaluate(f"{q('[data-testid=banner]')}.hidden")

    assert label == "negative"
    assert banner_hidden, "the page showed an error"


@pytest.fixture(scope="module")
def keyed(
    model_registry: ModelRegistry, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, str]]:
    """A server that needs an API key, and one key (scopes classify and jobs)."""
    keys_file = tmp_path_factory.mktemp("keys") / "keys.json"
    record, token = generate_key("dashboard", "dana", frozenset({"classify", "jobs"}))
    asyncio.run(FileKeyStore(keys_file).add(record))
    settings = Settings.model_validate(
        {"port": free_port(), "max_wait_ms": 10, "api_keys_file": keys_file}
    )
    with RunningServer(settings, model_registry, catalog) as running:
        yield running, token


@pytest.mark.timeout(240)
async def test_with_authentication_the_page_asks_for_a_key_then_works(
    keyed: tuple[RunningServer, str],
) -> None:
    server, token = keyed
    async with Chromium() as page:
        await page.navigate(f"{server.url}/dashboard/")
        refused = await page.wait_for(f"{q('[data-testid=banner]')}.textContent")
        assert await page.evaluate(f"{q('[data-testid=stat-succeeded]')}.textContent") == "–"

        await page.type_text("[data-testid=api-key]", token)
        await page.click("#key-form button[type=submit]")
        await page.wait_for(f"{q('[data-testid=connection]')}.dataset.state === 'live'")
        await page.wait_for(f"{q('[data-testid=stat-succeeded]')}.textContent !== '–'")
        await page.type_text("[data-testid=submit-text]", "This keyboard is fantastic")
        await page.click("[data-testid=submit-button]")
        label = await page.wait_for(f"{q('[data-testid=result-label]')}?.textContent")

    assert "API key" in refused  # UNAUTHENTICATED, with a hint to enter a key
    assert label == "positive"
