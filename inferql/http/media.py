"""Content negotiation for GraphQL over HTTP: which media type a response uses
(``Accept``), and whether a request body is one we read (``Content-Type``)."""

from __future__ import annotations

from enum import StrEnum


class MediaType(StrEnum):
    GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
    JSON = "application/json"


# Preferred first: on equal quality the modern type wins.
_OFFERED = (MediaType.GRAPHQL_RESPONSE_JSON, MediaType.JSON)


def negotiate(accept: str | None) -> MediaType | None:
    """The response media type for an ``Accept`` header, or None when it accepts
    neither (406). No header means ``application/graphql-response+json``, as the
    GraphQL-over-HTTP specification asks since its 2025 watershed."""
    if accept is None or not accept.strip():
        return MediaType.GRAPHQL_RESPONSE_JSON
    ranges = [_parse_range(part) for part in accept.split(",") if part.strip()]
    best: MediaType | None = None
    best_q = 0.0
    for offered in _OFFERED:
        q = _quality(offered, ranges)
        if q > best_q:
            best, best_q = offered, q
    return best


def is_json_body(content_type: str | None) -> bool:
    """Whether a POST body is ``application/json`` in UTF-8 (the only encoding
    the specification allows for it)."""
    if content_type is None:
        return False
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() != MediaType.JSON:
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return False
    return True


def _parse_range(part: str) -> tuple[str, float]:
    media, *params = (piece.strip() for piece in part.split(";"))
    q = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
    return media.lower(), q


def _quality(offered: MediaType, ranges: list[tuple[str, float]]) -> float:
    """The quality of the most specific range that matches ``offered``."""
    main = offered.split("/")[0]
    by_specificity = ((offered.value, 3), (f"{main}/*", 2), ("*/*", 1))
    best_rank, best_q = 0, 0.0
    for media, q in ranges:
        for pattern, rank in by_specificity:
            if media == pattern and rank > best_rank:
                best_rank, best_q = rank, q
    return best_q
