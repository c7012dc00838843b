"""GraphQL over HTTP, as the specification asks, with a real client against a
running server: media types, status codes, and refusals before execution."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.http.conftest import ServerFactory
from tests.support import RunningServer

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


@pytest.fixture(scope="module")
def server(serve: ServerFactory) -> RunningServer:
    return serve(max_body_bytes=2_000, max_query_depth=4)


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


def media_of(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (JSON, JSON),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8, {JSON}; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE};q=0.5", JSON),
        ("*/*", GRAPHQL_RESPONSE),
        ("application/*;q=0.8, text/html", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, {JSON}", JSON),
    ],
)
async def test_the_response_media_type_follows_accept(
    client: httpx.AsyncClient, accept: str, media: str
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept": accept}
    )

    assert response.status_code == 200
    assert media_of(response) == media
    assert "charset=utf-8" in response.headers["content-type"]
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_without_accept_the_response_is_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    request = client.build_request("POST", "/graphql", json={"query": "{ nosuchfield }"})
    del request.headers["accept"]
    response = await client.send(request)

    assert (response.status_code, media_of(response)) == (400, GRAPHQL_RESPONSE)


async def test_a_client_that_accepts_no_json_gets_406(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept": "text/plain"}
    )
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# (what, request, status with graphql-response+json, status with application/json, code)
REQUEST_ERRORS: list[tuple[str, dict[str, Any], int, int, str]] = [
    ("document does not parse", {"json": {"query": "{"}}, 400, 200, "GRAPHQL_PARSE_FAILED"),
    (
        "document does not validate",
        {"json": {"query": "{ nosuchfield }"}},
        400,
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        "operation cannot be determined",
        {"json": {"query": "query A { __typename }", "operationName": "B"}},
        400,
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        "variables do not coerce",
        {
            "json": {
                "query": "query($n: Int) { jobs(first: $n) { edges { cursor } } }",
                "variables": {"n": "many"},
            }
        },
        400,
        200,
        "BAD_USER_INPUT",
    ),
    (
        "body is not JSON",
        {"content": b"NONSENSE", "headers": {"Content-Type": JSON}},
        400,
        400,
        "BAD_REQUEST",
    ),
    (
        "body is not UTF-8",
        {"content": b'{"query": "\xff"}', "headers": {"Content-Type": JSON}},
        400,
        400,
        "BAD_REQUEST",
    ),
    ("parameter misspelt", {"json": {"qeury": "{ __typename }"}}, 400, 400, "BAD_REQUEST"),
    ("body is a JSON string", {"json": "{ __typename }"}, 400, 400, "BAD_REQUEST"),
    (
        "body is JSON null",
        {"content": b"null", "headers": {"Content-Type": JSON}},
        400,
        400,
        "BAD_REQUEST",
    ),
    (
        "a subscription over HTTP",
        {"json": {"query": "subscription { jobEvents { type } }"}},
        400,
        400,
        "BAD_REQUEST",
    ),
    (
        "body is a JSON object cut short",
        {"content": b'{"query": "{ __typename }"', "headers": {"Content-Type": JSON}},
        400,
        400,
        "BAD_REQUEST",
    ),
    ("body is a batch", {"json": [{"query": "{ __typename }"}]}, 400, 400, "BAD_REQUEST"),
    ("query not a string", {"json": {"query": 7}}, 400, 400, "BAD_REQUEST"),
    (
        "extensions not a map",
        {"json": {"query": "{ __typename }", "extensions": "apq"}},
        400,
        400,
        "BAD_REQUEST",
    ),
    (
        "variables not a map",
        {"json": {"query": "{ __typename }", "variables": [7]}},
        400,
        400,
        "BAD_REQUEST",
    ),
    (
        "body not application/json",
        {"content": b"{ __typename }", "headers": {"Content-Type": "application/graphql"}},
        415,
        415,
        "BAD_REQUEST",
    ),
    (
        "body in another charset",
        {"content": b"{}", "headers": {"Content-Type": f"{JSON}; charset=latin-1"}},
        415,
        415,
        "BAD_REQUEST",
    ),
    (
        "body too large",
        {"json": {"query": "{ __typename }", "variables": {"pad": "x" * 2_001}}},
        413,
        413,
        "PAYLOAD_TOO_LARGE",
    ),
]


@pytest.mark.parametrize(("media", "column"), [(GRAPHQL_RESPONSE, 2), (JSON, 3)])
@pytest.mark.parametrize("case", REQUEST_ERRORS, ids=[case[0] for case in REQUEST_ERRORS])
async def test_request_errors_get_the_status_of_their_media_type_and_no_data(
    client: httpx.AsyncClient,
    case: tuple[str, dict[str, Any], int, int, str],
    media: str,
    column: int,
) -> None:
    kwargs = case[1]
    headers = {"Accept": media, **kwargs.get("headers", {})}
    response = await client.post("/graphql", **{**kwargs, "headers": headers})

    body = response.json()
    assert response.status_code == case[column], body
    assert media_of(response) == media
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == [case[4]], body


async def test_the_depth_limit_is_query_too_complex(client: httpx.AsyncClient) -> None:
    query = "{ jobs { edges { node { predictions { model { name } } } } } }"
    response = await client.post("/graphql", json={"query": query})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize("media", [GRAPHQL_RESPONSE, JSON])
async def test_field_errors_during_execution_are_200_with_data(
    client: httpx.AsyncClient, media: str
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": '{ classify(text: "hi", model: "nope") { label } }'},
        headers={"Accept": media},
    )

    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "MODEL_NOT_FOUND"
    assert body["errors"][0]["path"] == ["classify"]


async def test_queries_run_over_get_but_mutations_are_405(client: httpx.AsyncClient) -> None:
    query = await client.get("/graphql", params={"query": "{ __typename }"})
    mutation = await client.get(
        "/graphql",
        params={"query": 'mutation { submitClassification(input: {texts: ["a"]}) { id } }'},
    )

    assert query.status_code == 200 and query.json() == {"data": {"__typename": "Query"}}
    assert mutation.status_code == 405
    assert mutation.headers["allow"] == "POST"
    assert mutation.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_chunked_body_over_the_limit_is_refused_while_it_arrives(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}}'

    response = await client.post("/graphql", content=chunks(), headers={"Content-Type": JSON})

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {
        "code": "PAYLOAD_TOO_LARGE",
        "limit": 2000,
    }


async def test_a_body_at_the_limit_is_served(client: httpx.AsyncClient) -> None:
    head = b'{"query": "{ __typename }", "variables": {"pad": "'
    tail = b'"}}'
    body = head + b"x" * (2_000 - len(head) - len(tail)) + tail
    response = await client.post("/graphql", content=body, headers={"Content-Type": JSON})
    assert response.status_code == 200, response.text


async def test_production_switches(serve: ServerFactory) -> None:
    server = serve(
        graphiql=False, introspection=False, field_suggestions=False, queries_over_get=False
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        over_get = await client.get("/graphql", params={"query": "{ __typename }"})
        over_post = await client.post("/graphql", json={"query": "{ __typename }"})
        introspection = await client.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}
        )
        misspelt = await client.post("/graphql", json={"query": "{ modelz { name } }"})

    assert page.status_code == 404 and "graphiql" not in page.text.lower()
    assert over_get.status_code == 405 and over_get.headers["allow"] == "POST"
    assert over_post.json() == {"data": {"__typename": "Query"}}
    assert introspection.status_code == 400
    assert "introspection has been disabled" in introspection.json()["errors"][0]["message"]
    assert misspelt.status_code == 400
    assert misspelt.json()["errors"][0]["message"] == "Cannot query field 'modelz' on type 'Query'."
