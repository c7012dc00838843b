"""Parsing and validating documents, each once per distinct document text.

A client sends the same few documents over and over with new variables, so
the parsed document and its validation errors are kept in LRU caches keyed by
the document's text. Keying by text matters: strawberry's ``ValidationCache``
keys by the parsed document, and hashing a frozen AST node hashes the whole
tree on every lookup.

A document longer than ``max_bytes`` is refused before anything reads it
(``check_size``, QUERY_TOO_COMPLEX): one string literal is one token, so the
token limit alone bounds neither a document's size nor the caches' memory. The
caches hold documents up to that size only (one that is larger, from the
allow-list, is parsed every time), so their texts take at most ``maxsize`` x
``max_bytes``. The parser stops after ``max_tokens`` tokens (QUERY_TOO_COMPLEX
too), and validation runs graphql-core's specified rules plus the schema's own
(depth, aliases, introspection).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    parse,
    specified_rules,
    validate,
)

from inferql.errors import QueryTooComplexError

CACHED_DOCUMENTS = 1024


def utf8_length_over(text: str, limit: int) -> bool:
    """Whether ``text`` takes more than ``limit`` bytes in UTF-8 (encoded only when
    its length alone cannot tell: a character takes one to four bytes)."""
    if len(text) * 4 <= limit:
        return False
    return len(text) > limit or len(text.encode()) > limit


def too_large(limit: int) -> QueryTooComplexError:
    return QueryTooComplexError(
        f"The query document is larger than {limit} bytes; send long values as variables.",
        maxQueryBytes=limit,
    )


class Documents:
    """The parse and validation caches of one schema."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        max_tokens: int,
        max_bytes: int,
        rules: Sequence[type[ASTValidationRule]] = (),
        maxsize: int = CACHED_DOCUMENTS,
    ) -> None:
        self._schema = schema
        self.max_tokens = max_tokens
        self.max_bytes = max_bytes
        self._rules = (*specified_rules, *rules)
        # Errors are not cached: a document that fails to parse is parsed again.
        self._cached_parse = lru_cache(maxsize=maxsize)(self._parse)
        self._cached_validate = lru_cache(maxsize=maxsize)(self._validate)

    def check_size(self, query: str) -> None:
        """Refuse a document sent in full that is larger than ``max_bytes``."""
        if utf8_length_over(query, self.max_bytes):
            raise too_large(self.max_bytes)

    def cacheable(self, query: str) -> bool:
        """Whether the caches may keep ``query`` (and what it parses to)."""
        return not utf8_length_over(query, self.max_bytes)

    def parse(self, query: str) -> DocumentNode:
        """``query`` parsed, from the cache when it is small enough to be kept."""
        if self.cacheable(query):
            return self._cached_parse(query)
        return self._parse(query)

    def validate(self, query: str) -> list[GraphQLError]:
        """The validation errors of ``query`` (which must parse), cached likewise."""
        if self.cacheable(query):
            return self._cached_validate(query)
        return self._validate(query)

    def _parse(self, query: str) -> DocumentNode:
        return parse(query, max_tokens=self.max_tokens)

    def _validate(self, query: str) -> list[GraphQLError]:
        """The validation errors of ``query`` (which must parse)."""
        return self.validate_document(self.parse(query))

    def validate_document(self, document: DocumentNode) -> list[GraphQLError]:
        """Validate a document that came without its text (no cache)."""
        return validate(self._schema, document, self._rules)
