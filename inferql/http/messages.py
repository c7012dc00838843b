"""The JSON of outgoing websocket messages, with a shared result encoded once.

A shared subscription (:mod:`inferql.http.shared_streams`) hands one
execution result to every socket that asked for it. Each socket's handler then
builds its own ``next`` message around that result, ``{"id": ..., "type":
"next", "payload": {"data": <the shared data>}}``, and encoding it anew for
every socket was a fifth of what a delivery cost the event loop with a thousand
subscribers. Here a payload is encoded once and each socket's message spliced
around it: only the operation id differs between them.

The memo holds the last few results' data, keyed by identity: an execution
result is never changed once it is made, and holding the object keeps its
identity from being reused by another while it is in the memo.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from json.encoder import encode_basestring_ascii
from typing import Any

_SEPARATORS = (",", ":")


def encode(message: object) -> str:
    """A message as compact JSON, as strawberry encodes it."""
    return json.dumps(message, separators=_SEPARATORS)


class MessageEncoder:
    """Encodes websocket messages; a ``next`` payload whose data it saw last
    time is not encoded again."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._payloads: OrderedDict[int, tuple[object, str]] = OrderedDict()

    def __call__(self, message: object) -> str:
        payload = _plain_next_payload(message)
        if payload is None:
            return encode(message)
        data = payload["data"]
        held = self._payloads.get(id(data))
        if held is None or held[0] is not data:
            held = (data, encode(payload))
            self._payloads[id(data)] = held
            if len(self._payloads) > self._size:
                self._payloads.popitem(last=False)
        assert isinstance(message, dict)
        operation_id = encode_basestring_ascii(message["id"])
        return f'{{"id":{operation_id},"type":"next","payload":{held[1]}}}'


def _plain_next_payload(message: object) -> dict[str, Any] | None:
    """The payload of a ``next`` message that carries data and nothing else
    (a handler formats errors anew for each socket: such a message is encoded
    whole). Exact types only: a check against an ABC costs more than it saves."""
    if type(message) is not dict or len(message) != 3 or message.get("type") != "next":
        return None
    payload = message.get("payload")
    if type(payload) is not dict or len(payload) != 1 or payload.get("data") is None:
        return None
    if type(message.get("id")) is not str:
        return None
    return payload
