"""End to end, with authentication on: a real server, the real model, real HTTP
and websocket clients. Credentials, scopes, tenancy, idempotency keys and
webhooks, as a client sees them."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from standardwebhooks import Webhook
from websockets.exceptions import ConnectionClosed

from inferql.backends.keyfile import FileKeyStore
from inferql.inference.catalog import Catalog
from inferql.inference.registry import ModelRegistry
from inferql.security.apikeys import generate_key, new_webhook_secret
from inferql.settings import Settings
from tests.support import GraphQLWebSocket, RunningServer, WebhookReceiver, free_port

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
ISSUER, AUDIENCE = "https://issuer.test", "inferql-tests"
SUBMIT = "mutation($t: [String!]!) { submitClassification(input: {texts: $t}) { id owner status } }"


class Keys:
    """API keys of a few owners, in the server's keys file."""

    def __init__(self, path: Path) -> None:
        self.store = FileKeyStore(path)
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    async def add(self, name: str, owner: str, *scopes: str) -> str:
        record, token = generate_key(name, owner, frozenset(scopes or ("classify", "jobs")))
        await self.store.add(record)
        if await self.store.webhook_secret(owner) is None:
            await self.store.set_webhook_secret(owner, new_webhook_secret())
        self.tokens[name], self.ids[name] = token, record.id
        return token


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys") / "keys.json"


@pytest.fixture(scope="module")
def keys(keys_file: Path) -> Keys:
    made = Keys(keys_file)

    async def add_all() -> None:
        await made.add("alice", "alice")
        await made.add("bob", "bob")
        await made.add("ops", "ops", "admin")
        await made.add("reader", "reader", "jobs")
        await made.add("doomed", "alice")

    asyncio.run(add_all())
    return made


@pytest.fixture(scope="module")
def server(
    model_registry: ModelRegistry, catalog: Catalog, keys: Keys, keys_file: Path
) -> Iterator[RunningServer]:
    settings = Settings.model_validate(
        {
            "port": free_port(),
            "max_wait_ms": 10,
            "api_keys_file": keys_file,
            "jwt_secret": SECRET,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "webhook_allow_private": True,
            "webhook_retry_base_s": 0.1,
        }
    )
    with RunningServer(settings, model_registry, catalog) as running:
        yield running


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(sub: str, scope: str = "classify jobs", **claims: Any) -> str:
    payload = {
        "sub": sub,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(time.time()) + 300,
        "scope": scope,
        **claims,
    }
    return jwt.encode(payload, SECRET, algorithm="HS256")


async def post(
    http: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


# -- authentication -----------------------------------------------------------


async def test_no_credentials_is_401_with_a_graphql_error(http: httpx.AsyncClient) -> None:
    response = await post(http, "{ models { name } }")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "data" not in response.json()
    assert codes(response.json()) == ["UNAUTHENTICATED"]


async def test_an_api_key_works_as_a_header_or_a_bearer_token(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    as_header = await post(http, "{ models { name } }", {"X-API-Key": keys.tokens["alice"]})
    as_bearer = await post(http, "{ models { name } }", bearer(keys.tokens["alice"]))

    assert as_header.status_code == as_bearer.status_code == 200
    assert as_header.json() == as_bearer.json()
    assert "errors" not in as_header.json()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "iqk_0000000000000000_" + "A" * 43},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer " + token_for("alice", exp=int(time.time()) - 3600)},
        {"Authorization": "Bearer " + token_for("alice", aud="someone-else")},
        {"Authorization": "Bearer " + token_for("alice", iss="https://evil.test")},
        {
            "Authorization": "Bearer "
            + jwt.encode(
                {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": time.time() + 60},
                "another-secret-that-is-long-enough-too",
                algorithm="HS256",
            )
        },
    ],
    ids=["unknown-key", "basic", "garbage", "expired", "audience", "issuer", "signature"],
)
async def test_bad_credentials_are_401(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await post(http, "{ models { name } }", headers)
    assert response.status_code == 401
    assert codes(response.json()) == ["UNAUTHENTICATED"]


async def test_a_revoked_key_stops_working_at_once(http: httpx.AsyncClient, keys: Keys) -> None:
    before = await post(http, "{ models { name } }", bearer(keys.tokens["doomed"]))
    await keys.store.revoke(keys.ids["doomed"])
    after = await post(http, "{ models { name } }", bearer(keys.tokens["doomed"]))

    assert before.status_code == 200
    assert after.status_code == 401


async def test_a_jwt_names_the_caller_and_its_scopes(http: httpx.AsyncClient) -> None:
    submitted = await post(http, SUBMIT, bearer(token_for("carol")), t=["jwt hello"])
    reader = await post(http, SUBMIT, bearer(token_for("carol", scope="jobs")), t=["nope"])

    assert submitted.json()["data"]["submitClassification"]["owner"] == "carol"
    assert reader.status_code == 403
    assert codes(reader.json()) == ["FORBIDDEN"]


async def test_a_missing_scope_is_403_and_runs_nothing(http: httpx.AsyncClient, keys: Keys) -> None:
    response = await post(
        http, '{ classify(text: "hi") { label } models { name } }', bearer(keys.tokens["reader"])
    )
    jobs = await post(http, "{ jobs { edges { node { id } } } }", bearer(keys.tokens["reader"]))

    assert response.status_code == 403
    assert "data" not in response.json()
    assert codes(response.json()) == ["FORBIDDEN"]
    assert response.json()["errors"][0]["extensions"]["scope"] == "classify"
    assert jobs.status_code == 200 and jobs.json()["data"]["jobs"]["edges"] == []


async def test_a_websocket_without_credentials_is_closed_with_4403(
    server: RunningServer, keys: Keys
) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        async with GraphQLWebSocket(server.ws_url):
            pass
    with pytest.raises(ConnectionClosed) as wrong:
        async with GraphQLWebSocket(server.ws_url, {"X-API-Key": "iqk_nope"}):
            pass

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert wrong.value.rcvd is not None and wrong.value.rcvd.code == 4403


# -- tenancy ------------------------------------------------------------------


async def test_callers_see_only_their_own_jobs(http: httpx.AsyncClient, keys: Keys) -> None:
    alice, bob, ops = (bearer(keys.tokens[n]) for n in ("alice", "bob", "ops"))
    submitted = await post(http, SUBMIT, alice, t=["alice's private text"])
    job_id = submitted.json()["data"]["submitClassification"]["id"]
    query = "query($id: ID!) { job(id: $id) { id owner } }"

    mine = await post(http, query, alice, id=job_id)
    theirs = await post(http, query, bob, id=job_id)
    admin = await post(http, query, ops, id=job_id)
    bob_cancels = await post(
        http, "mutation($id: ID!) { cancelJob(id: $id) { id } }", bob, id=job_id
    )
    missing = await post(
        http,
        "mutation($id: ID!) { cancelJob(id: $id) { id } }",
        bob,
        id="01NOSUCHJOB0000000000000000",
    )
    listed = await post(http, "{ jobs(first: 100) { edges { node { id owner } } } }", bob)
    everyone = await post(http, "{ jobs(first: 100) { edges { node { owner } } } }", ops)

    assert mine.json()["data"]["job"] == {"id": job_id, "owner": "alice"}
    assert theirs.json()["data"]["job"] is None
    assert admin.json()["data"]["job"]["owner"] == "alice"
    assert codes(bob_cancels.json()) == codes(missing.json()) == ["NOT_FOUND"]
    # Someone else's job reads exactly like a missing one, bar the id itself.
    assert bob_cancels.json()["errors"][0]["message"].replace(job_id, "X") == missing.json()[
        "errors"
    ][0]["message"].replace("01NOSUCHJOB0000000000000000", "X")
    assert all(e["node"]["owner"] == "bob" for e in listed.json()["data"]["jobs"]["edges"])
    assert {"alice"} <= {e["node"]["owner"] for e in everyone.json()["data"]["jobs"]["edges"]}


async def test_subscriptions_show_only_the_callers_jobs(
    server: RunningServer, http: httpx.AsyncClient, keys: Keys
) -> None:
    alice, bob = bearer(keys.tokens["alice"]), bearer(keys.tokens["bob"])
    async with (
        GraphQLWebSocket(server.ws_url, {"Authorization": alice["Authorization"]}) as alice_ws,
        GraphQLWebSocket(server.ws_url, {"X-API-Key": keys.tokens["bob"]}) as bob_ws,
    ):
        await bob_ws.subscribe("all", "subscription { jobEvents { type job { id owner } } }")
        await asyncio.sleep(0.2)
        alices = await post(http, SUBMIT, alice, t=["for alice only"])
        alice_id = alices.json()["data"]["submitClassification"]["id"]
        await bob_ws.subscribe(
            "peek", "subscription($id: ID!) { job(id: $id) { type } }", {"id": alice_id}
        )
        peek = await bob_ws.until_complete("peek", timeout=10)
        await alice_ws.subscribe(
            "own", "subscription($id: ID!) { job(id: $id) { type } }", {"id": alice_id}
        )
        own = await alice_ws.until_complete("own")
        bobs = await post(http, SUBMIT, bob, t=["for bob"])
        bob_id = bobs.json()["data"]["submitClassification"]["id"]
        seen = await bob_ws.receive()

    assert codes(peek[0]["payload"]) == ["NOT_FOUND"]
    assert own[-2]["payload"]["data"]["job"]["type"] == "SUCCEEDED"
    # Bob's stream skipped Alice's job entirely: its first event is his own.
    assert seen["payload"]["data"]["jobEvents"]["job"] == {"id": bob_id, "owner": "bob"}


# -- idempotency --------------------------------------------------------------

KEYED = """mutation($t: [String!]!, $k: String) {
  submitClassification(input: {texts: $t, idempotencyKey: $k}) { id }
}"""


async def test_an_idempotency_key_in_the_input_replays_the_first_job(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    alice, bob = bearer(keys.tokens["alice"]), bearer(keys.tokens["bob"])
    first = await post(http, KEYED, alice, t=["once only"], k="order-1")
    again = await post(http, KEYED, alice, t=["once only"], k="order-1")
    other_input = await post(http, KEYED, alice, t=["something else"], k="order-1")
    other_caller = await post(http, KEYED, bob, t=["once only"], k="order-1")

    job_id = first.json()["data"]["submitClassification"]["id"]
    assert "extensions" not in first.json() and "idempotent-replayed" not in first.headers
    assert again.json()["data"]["submitClassification"]["id"] == job_id
    assert again.json()["extensions"] == {"idempotency": {"replayed": True}}
    assert again.headers["idempotent-replayed"] == "true"
    assert other_input.status_code == 200
    assert codes(other_input.json()) == ["IDEMPOTENCY_KEY_MISMATCH"]
    assert other_caller.json()["data"]["submitClassification"]["id"] != job_id


async def test_an_idempotency_key_header_is_checked_before_execution(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    alice = bearer(keys.tokens["alice"])
    first = await post(http, SUBMIT, {**alice, "Idempotency-Key": "h-1"}, t=["by header"])
    again = await post(http, SUBMIT, {**alice, "Idempotency-Key": "h-1"}, t=["by header"])
    changed = await post(http, SUBMIT, {**alice, "Idempotency-Key": "h-1"}, t=["changed"])
    too_long = await post(http, SUBMIT, {**alice, "Idempotency-Key": "x" * 300}, t=["x"])

    job_id = first.json()["data"]["submitClassification"]["id"]
    assert again.status_code == 200
    assert again.json()["data"]["submitClassification"]["id"] == job_id
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["extensions"] == {"idempotency": {"replayed": True}}
    assert changed.status_code == 422
    assert "data" not in changed.json()
    assert codes(changed.json()) == ["IDEMPOTENCY_KEY_MISMATCH"]
    assert too_long.status_code == 400


async def test_a_request_that_did_not_run_leaves_its_idempotency_key_free(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    """A typo, variables that do not coerce, and a persisted query's hash alone
    (as Apollo sends it first) create no job: the corrected retry uses the key."""
    alice = {**bearer(keys.tokens["alice"]), "Idempotency-Key": "typo-1"}
    typo = await post(http, SUBMIT.replace("submitClassification", "submitClasification"), alice)
    uncoerced = await http.post(
        "/graphql", json={"query": SUBMIT, "variables": {"t": [None]}}, headers=alice
    )
    digest = hashlib.sha256(SUBMIT.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    hash_alone = await http.post(
        "/graphql", json={"variables": {"t": ["x"]}, "extensions": persisted}, headers=alice
    )
    fixed = await http.post(
        "/graphql",
        json={"query": SUBMIT, "variables": {"t": ["x"]}, "extensions": persisted},
        headers=alice,
    )

    assert codes(typo.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(uncoerced.json()) == ["BAD_USER_INPUT"]
    assert codes(hash_alone.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert fixed.status_code == 200, fixed.json()
    assert fixed.json()["data"]["submitClassification"]["status"] == "QUEUED"


async def test_concurrent_duplicates_create_one_job(http: httpx.AsyncClient, keys: Keys) -> None:
    headers = {**bearer(keys.tokens["bob"]), "Idempotency-Key": "burst-1"}
    texts = ["a burst of retries", "all at once"]
    responses = await asyncio.gather(*(post(http, SUBMIT, headers, t=texts) for _ in range(12)))
    settled = await post(http, SUBMIT, headers, t=texts)

    created = {
        r.json()["data"]["submitClassification"]["id"] for r in responses if r.status_code == 200
    }
    refused = [r for r in responses if r.status_code != 200]
    assert all(r.status_code == 409 for r in refused), [r.status_code for r in refused]
    assert all(codes(r.json()) == ["IDEMPOTENCY_KEY_IN_USE"] for r in refused)
    assert len(created) == 1
    assert settled.json()["data"]["submitClassification"]["id"] in created
    page = await post(
        http, "{ jobs(first: 100) { edges { node { id } } } }", bearer(keys.tokens["bob"])
    )
    ids = [e["node"]["id"] for e in page.json()["data"]["jobs"]["edges"]]
    assert len(set(ids) & created) == 1


# -- webhooks -----------------------------------------------------------------

HOOKED = """mutation($t: [String!]!, $u: String) {
  submitClassification(input: {texts: $t, webhookUrl: $u}) { id webhookUrl }
}"""


async def test_a_finished_job_is_posted_to_its_webhook_signed(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    secret = await keys.store.webhook_secret("alice")
    assert secret is not None
    with WebhookReceiver(statuses=[503]) as receiver:
        submitted = await post(
            http, HOOKED, bearer(keys.tokens["alice"]), t=["I love webhooks"], u=receiver.url
        )
        job_id = submitted.json()["data"]["submitClassification"]["id"]
        (failed_headers, _), (headers, body) = await receiver.until_received(2)

    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["id"] == job_id
    assert payload["data"]["predictions"][0]["label"] == "positive"
    assert payload["data"]["predictions"][0]["head"] == "linear"  # sentiment@2's
    # The retry is the same message: same id, so a receiver can drop duplicates.
    assert failed_headers["webhook-id"] == headers["webhook-id"] == f"msg_{job_id}"
    with pytest.raises(Exception, match="signature"):
        Webhook(new_webhook_secret()).verify(body, headers)


async def test_a_webhook_url_that_is_not_http_is_refused(
    http: httpx.AsyncClient, keys: Keys
) -> None:
    response = await post(
        http, HOOKED, bearer(keys.tokens["alice"]), t=["x"], u="file:///etc/passwd"
    )
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert response.json()["errors"][0]["extensions"]["argument"] == "webhookUrl"
