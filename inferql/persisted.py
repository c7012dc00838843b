"""Which document a request runs: automatic persisted queries and the allow-list.

Automatic persisted queries follow Apollo's APQ protocol. A client sends
``extensions.persistedQuery = {"version": 1, "sha256Hash": HASH}`` without the
query: a known hash runs its stored document; an unknown one answers
PERSISTED_QUERY_NOT_FOUND, and the client sends the query together with its
hash, which stores it (once it validates) for next time. With APQ off, a hash
answers PERSISTED_QUERY_NOT_SUPPORTED and the client stops sending them.

The allow-list is for production: only the operations of a manifest run, named
by their id (sent as the APQ hash) or sent in full, and nothing is stored.
Two manifest formats are read: Apollo's persisted query manifest
(``{"format": "apollo-persisted-query-manifest", "version": 1, "operations":
[{"id", "body", ...}]}``) and a flat JSON object ``{id: document}`` (Relay,
GraphQL Code Generator's persisted documents).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferql.backends.stores import PersistedQueryStore
from inferql.errors import (
    BadRequestError,
    OperationNotAllowedError,
    PersistedQueryNotFoundError,
    PersistedQueryNotSupportedError,
)
from inferql.settings import Settings

APQ_VERSION = 1
NOT_ALLOWED_MESSAGE = "This operation is not on the allow-list of registered operations."


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class AllowList:
    """The registered operations: documents by id, and the set of their texts."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self._by_id = dict(documents)
        self._texts = frozenset(self._by_id.values())

    @classmethod
    def load(cls, path: Path) -> AllowList:
        """Read a manifest; ValueError (naming the file) if it is not one."""
        try:
            data = json.loads(path.read_text())
            return cls(parse_manifest(data))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not an operations manifest: {error}") from error

    def __len__(self) -> int:
        return len(self._by_id)

    def document(self, operation_id: str) -> str | None:
        return self._by_id.get(operation_id)

    def allows(self, document: str) -> bool:
        return document in self._texts


def parse_manifest(data: object) -> dict[str, str]:
    """Documents by id from either manifest format."""
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        if data.get("version") != 1:
            raise ValueError(f"unsupported manifest version {data.get('version')!r}")
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ValueError("`operations` is not a list")
        documents: dict[str, str] = {}
        for operation in operations:
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
            ):
                raise ValueError("every operation needs a string `id` and `body`")
            documents[operation["id"]] = operation["body"]
        return documents
    if isinstance(data, dict) and all(
        isinstance(key, str) and isinstance(value, str) for key, value in data.items()
    ):
        return dict(data)
    raise ValueError("expected an Apollo persisted query manifest or an object {id: document}")


@dataclass(frozen=True, slots=True)
class Resolved:
    """The document to run, and the hash to store it under once it validates."""

    document: str | None
    store_as: str | None = None


class PersistedQueries:
    """Resolve a request's document; every refusal is a domain error with its code."""

    def __init__(
        self, store: PersistedQueryStore, *, apq: bool, allow_list: AllowList | None
    ) -> None:
        self._store = store
        self._apq = apq
        self.allow_list = allow_list

    @classmethod
    def from_settings(cls, store: PersistedQueryStore, settings: Settings) -> PersistedQueries:
        """APQ as the settings say, and the allow-list they name (read now: a bad
        manifest stops the server from starting)."""
        path = settings.allowed_operations_path
        allow_list = AllowList.load(path) if path is not None else None
        return cls(store, apq=settings.apq, allow_list=allow_list)

    async def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> Resolved:
        """The document a request names by its ``query`` and ``extensions``.

        Raises BadRequestError for a malformed ``persistedQuery`` or a hash that does
        not match the query, and the APQ and allow-list errors of the module doc.
        A document sent in full is checked against the allow-list by ``permits``.
        """
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return Resolved(query)
        sha = _requested_hash(persisted)
        if query is not None and sha256_hex(query) != sha.lower():
            raise BadRequestError("The provided sha256Hash does not match the query.")
        if self.allow_list is not None:
            document = self.allow_list.document(sha)
            if document is None:
                raise OperationNotAllowedError(NOT_ALLOWED_MESSAGE)
            return Resolved(document)
        if not self._apq:
            raise PersistedQueryNotSupportedError("PersistedQueryNotSupported")
        if query is not None:
            return Resolved(query, store_as=sha.lower())
        document = await self._store.get(sha.lower())
        if document is None:
            raise PersistedQueryNotFoundError("PersistedQueryNotFound")
        return Resolved(document)

    def permits(self, document: str) -> bool:
        """Whether a document sent in full may run."""
        return self.allow_list is None or self.allow_list.allows(document)

    async def remember(self, resolved: Resolved) -> None:
        if resolved.store_as is not None and resolved.document is not None:
            await self._store.put(resolved.store_as, resolved.document)


def _requested_hash(persisted: object) -> str:
    if not isinstance(persisted, dict):
        raise BadRequestError("`extensions.persistedQuery` must be an object.")
    if persisted.get("version") != APQ_VERSION:
        raise BadRequestError(f"Unsupported persisted query version; use {APQ_VERSION}.")
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str):
        raise BadRequestError("`extensions.persistedQuery.sha256Hash` must be a string.")
    return sha
