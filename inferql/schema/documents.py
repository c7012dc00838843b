"""Parsing and validating documents, each once per distinct document text.

A client sends the same few documents over and over with new variables, so
the parsed document and its validation errors are kept in LRU caches keyed by
the document's text. Keying by text matters: strawberry's ``ValidationCache``
keys by the parsed document, and hashing a frozen AST node hashes the whole
tree on every lookup.

The parser stops after ``max_tokens`` tokens (a huge document is refused before
it costs anything: QUERY_TOO_COMPLEX), and validation runs graphql-core's
specified rules plus the schema's own (depth, aliases, introspection).
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

CACHED_DOCUMENTS = 1024


class Documents:
    """The parse and validation caches of one schema."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        max_tokens: int,
        rules: Sequence[type[ASTValidationRule]] = (),
        maxsize: int = CACHED_DOCUMENTS,
    ) -> None:
        self._schema = schema
        self.max_tokens = max_tokens
        self._rules = (*specified_rules, *rules)
        # Errors are not cached: a document that fails to parse is parsed again.
        self.parse = lru_cache(maxsize=maxsize)(self._parse)
        self.validate = lru_cache(maxsize=maxsize)(self._validate)

    def _parse(self, query: str) -> DocumentNode:
        return parse(query, max_tokens=self.max_tokens)

    def _validate(self, query: str) -> list[GraphQLError]:
        """The validation errors of ``query`` (which must parse)."""
        return self.validate_document(self.parse(query))

    def validate_document(self, document: DocumentNode) -> list[GraphQLError]:
        """Validate a document that came without its text (no cache)."""
        return validate(self._schema, document, self._rules)
