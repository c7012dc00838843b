"""Log lines for people or for machines, each carrying the request id.

``configure_logging(settings)`` sets up the root logger once per process:
``human`` lines (time, level, logger, message, then ``key=value`` fields) for
development, or one JSON object per line for production. Fields passed as
``extra={...}`` become keys of the JSON object.

The request id lives in a context variable: the request middleware sets it
(from ``X-Request-ID`` or made up), every line logged while the request runs
carries it, and the job service stamps it on each job it creates, so the
worker's lines about that job carry it too.
"""

from __future__ import annotations

import logging
import random
import re
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from inferql.settings import Settings

REQUEST_ID_HEADER = "x-request-id"
# Ids a client may choose: short and printable, so they are safe in any log line.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("inferql_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served here, or None outside a request."""
    return _request_id.get()


def set_request_id(request_id: str | None) -> None:
    """Make ``request_id`` the current one for this task and those it starts."""
    _request_id.set(request_id)


def request_id_from(header: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a sensible id, else a new one: 32
    random hex digits (``uuid4().hex``'s shape, without building a UUID).

    A request id names a request in logs; it guards nothing, so it comes from
    ``random`` (reseeded in a forked child), not from ``os.urandom``: that is a
    system call which lets go of the GIL, and on a busy server another thread
    then holds the event loop up until it gives the GIL back."""
    if header is not None and _VALID_REQUEST_ID.fullmatch(header):
        return header
    return f"{random.getrandbits(128):032x}"


@dataclass(slots=True)
class OperationNote:
    """What the GraphQL layer learned about a request, for its log line."""

    operation_type: str | None = None
    operation_name: str | None = None


_operation: ContextVar[OperationNote | None] = ContextVar("inferql_operation", default=None)


def start_operation_note() -> OperationNote:
    """A fresh note for the request starting in this context."""
    note = OperationNote()
    _operation.set(note)
    return note


def note_operation(operation_type: str, operation_name: str | None) -> None:
    """Record the operation the current request ran (no-op outside a request)."""
    note = _operation.get()
    if note is not None:
        note.operation_type = operation_type
        note.operation_name = operation_name


class _RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id``: its own if it has one, else the current."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


# uvicorn adds `color_message`, the same message with terminal colours.
_STANDARD_ATTRS = frozenset(RESERVED_ATTRS) | {"message", "asctime", "request_id", "color_message"}


class HumanFormatter(logging.Formatter):
    """``2026-01-01 12:00:00,000 INFO inferql.jobs: job SUCCEEDED [req-id] key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        fields = " ".join(
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRS and not key.startswith("_") and value is not None
        )
        head, newline, rest = line.partition("\n")  # keep a traceback below the line
        if request_id:
            head += f" [{request_id}]"
        if fields:
            head += " " + fields
        return head + newline + rest


def json_formatter() -> logging.Formatter:
    """One JSON object per line: timestamp, level, logger, message, request_id, extras."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"levelname": "level", "name": "logger"},
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        timestamp=True,
    )


def configure_logging(settings: Settings) -> None:
    """Route every logger of the process (uvicorn's too) through one stderr handler
    in the format the settings name."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if settings.log_format == "json" else HumanFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call, without the None values."""
    return {key: value for key, value in values.items() if value is not None}
