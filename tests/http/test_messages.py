"""Outgoing websocket messages: a shared result's payload is encoded once, and
every message is the JSON strawberry would have sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inferql.http.messages import MessageEncoder


def next_message(operation_id: str, data: Any) -> dict[str, Any]:
    return {"id": operation_id, "type": "next", "payload": {"data": data}}


@pytest.mark.parametrize("operation_id", ["1", 'say "hi"', "\u00fcber", "line\nbreak"])
def test_a_next_message_is_the_json_of_its_fields(operation_id: str) -> None:
    encode = MessageEncoder()
    data = {"jobEvents": {"type": "QUEUED", "job": {"id": "j1", "label": "caf\u00e9"}}}
    first, second = encode(next_message("0", data)), encode(next_message(operation_id, data))
    assert json.loads(first) == next_message("0", data)
    assert json.loads(second) == next_message(operation_id, data)
    assert second == json.dumps(next_message(operation_id, data), separators=(",", ":"))


def test_the_payload_of_one_result_is_encoded_once() -> None:
    encode = MessageEncoder()
    data: dict[str, Any] = {"jobEvents": {"type": "QUEUED"}}
    encode(next_message("a", data))
    data["jobEvents"]["type"] = "CHANGED"  # results are never changed; this shows the reuse
    assert json.loads(encode(next_message("b", data)))["payload"]["data"] == {
        "jobEvents": {"type": "QUEUED"}
    }
    fresh = {"jobEvents": {"type": "STARTED"}}  # another result: encoded anew
    assert json.loads(encode(next_message("c", fresh)))["payload"]["data"] == fresh


def test_the_memo_keeps_only_the_last_results() -> None:
    encode = MessageEncoder(size=2)
    first: dict[str, Any] = {"n": 1}
    encode(next_message("a", first))
    encode(next_message("a", {"n": 2}))
    encode(next_message("a", {"n": 3}))  # pushes out the first
    first["n"] = 10
    assert json.loads(encode(next_message("a", first)))["payload"]["data"] == {"n": 10}


@pytest.mark.parametrize(
    "message",
    [
        {"id": "1", "type": "next", "payload": {"data": {"n": 1}, "errors": [{"message": "x"}]}},
        {"id": "1", "type": "next", "payload": {"data": None, "errors": [{"message": "x"}]}},
        {"id": "1", "type": "complete"},
        {"type": "ping"},
        {"data": {"classify": {"label": "positive"}}},
    ],
)
def test_other_messages_are_encoded_whole_each_time(message: dict[str, Any]) -> None:
    encode = MessageEncoder()
    assert encode(message) == json.dumps(message, separators=(",", ":"))
    assert encode(message) == json.dumps(message, separators=(",", ":"))
