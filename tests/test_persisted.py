"""Automatic persisted queries and the allow-list, below HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inferql.backends.memory import MemoryPersistedQueryStore
from inferql.errors import (
    BadRequestError,
    OperationNotAllowedError,
    PersistedQueryNotFoundError,
    PersistedQueryNotSupportedError,
)
from inferql.persisted import AllowList, PersistedQueries, parse_manifest, sha256_hex

QUERY = "query Models { models { name } }"


def apq(sha: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha}}


def persisted(*, apq_on: bool = True, allow: dict[str, str] | None = None) -> PersistedQueries:
    store = MemoryPersistedQueryStore(ttl=60, max_entries=10, max_bytes=10_000)
    allow_list = AllowList(allow) if allow is not None else None
    return PersistedQueries(store, apq=apq_on, allow_list=allow_list)


async def test_an_unknown_hash_is_not_found_until_sent_with_its_query() -> None:
    queries = persisted()
    sha = sha256_hex(QUERY)

    with pytest.raises(PersistedQueryNotFoundError):
        await queries.resolve(None, apq(sha))
    registered = await queries.resolve(QUERY, apq(sha))
    assert registered.document == QUERY and registered.store_as == sha
    with pytest.raises(PersistedQueryNotFoundError):  # stored only once it validates
        await queries.resolve(None, apq(sha))
    await queries.remember(registered)
    assert (await queries.resolve(None, apq(sha.upper()))).document == QUERY


@pytest.mark.parametrize(
    ("query", "extensions", "message"),
    [
        (QUERY, apq("0" * 64), "does not match"),
        (None, apq(sha256_hex(QUERY), version=2), "version"),
        (None, {"persistedQuery": "yes"}, "must be an object"),
        (None, {"persistedQuery": {"version": 1}}, "sha256Hash"),
    ],
)
async def test_malformed_persisted_queries_are_bad_requests(
    query: str | None, extensions: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadRequestError, match=message):
        await persisted().resolve(query, extensions)


async def test_with_apq_off_a_hash_is_not_supported() -> None:
    with pytest.raises(PersistedQueryNotSupportedError):
        await persisted(apq_on=False).resolve(QUERY, apq(sha256_hex(QUERY)))
    plain = await persisted(apq_on=False).resolve(QUERY, None)
    assert plain.document == QUERY and plain.store_as is None


async def test_the_allow_list_runs_registered_operations_only() -> None:
    queries = persisted(allow={"models-v1": QUERY})

    by_id = await queries.resolve(None, apq("models-v1"))
    assert by_id.document == QUERY and by_id.store_as is None
    assert queries.permits(QUERY)
    assert not queries.permits("{ jobs { edges { cursor } } }")
    with pytest.raises(OperationNotAllowedError):
        await queries.resolve(None, apq(sha256_hex("{ __typename }")))


def test_both_manifest_formats_are_read(tmp_path: Path) -> None:
    apollo = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": sha256_hex(QUERY), "body": QUERY, "name": "Models", "type": "query"}],
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(apollo))

    assert AllowList.load(path).document(sha256_hex(QUERY)) == QUERY
    assert parse_manifest({"abc": QUERY}) == {"abc": QUERY}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps(["a list"]),
        json.dumps({"id": 3}),
        json.dumps({"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}),
        json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{}]}),
    ],
)
def test_a_bad_manifest_fails_loudly_naming_its_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "ops.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="ops.json"):
        AllowList.load(path)
