"""Log lines: JSON for machines, readable lines for people, each with its request id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import replace

import httpx
import pytest

from inferql.inference import ModelRef
from inferql.jobs.model import Job, JobError, JobEvent, JobEventType, JobStatus
from inferql.observability.jobs import JobTelemetry
from inferql.observability.logging import HumanFormatter, json_formatter, request_id_from
from inferql.settings import Settings
from tests.support import free_port


def record(**extra: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {
            "name": "inferql.jobs",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "job %s %s",
            "args": ("01ABC", "SUCCEEDED"),
            **extra,
        }
    )


def test_a_json_line_holds_the_message_the_request_id_and_the_fields() -> None:
    line = json_formatter().format(
        record(request_id="req-1", job_id="01ABC", duration_ms=12.5, model="sentiment@1")
    )
    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed["message"] == "job 01ABC SUCCEEDED"
    assert (parsed["level"], parsed["logger"], parsed["request_id"]) == (
        "INFO",
        "inferql.jobs",
        "req-1",
    )
    assert (parsed["job_id"], parsed["duration_ms"], parsed["model"]) == (
        "01ABC",
        12.5,
        "sentiment@1",
    )
    assert parsed["timestamp"].startswith("20")


def test_a_human_line_reads_as_a_sentence_with_its_fields_after() -> None:
    line = HumanFormatter().format(record(request_id="req-1", job_id="01ABC", error_code=None))
    assert line.endswith("INFO inferql.jobs: job 01ABC SUCCEEDED [req-1] job_id=01ABC")


def test_a_request_id_is_kept_only_when_it_is_sensible() -> None:
    assert (
        request_id_from("4f0c2a9e-7d1b-4c3e-9a55-0e2f7d8c1b6a")
        == "4f0c2a9e-7d1b-4c3e-9a55-0e2f7d8c1b6a"
    )
    for bad in (None, "", "x" * 129, "evil\nline", "spaces are not ok"):
        made = request_id_from(bad)
        assert made != bad and len(made) == 32


def test_serve_with_json_logs_writes_only_json_lines() -> None:
    port = free_port()
    env = {**os.environ, "INFERQL_LOG_FORMAT": "json", "INFERQL_RUN_WORKER": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "inferql.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/graphql",
                    json={"query": "query Names { models { name } }"},
                    headers={"X-Request-ID": "json-req-7"},
                    timeout=5,
                )
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert response.status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    requests = [line for line in lines if line.get("request_id") == "json-req-7"]
    assert len(requests) == 1
    assert requests[0]["logger"] == "inferql.access"
    assert (requests[0]["path"], requests[0]["status_code"]) == ("/graphql", 200)
    assert requests[0]["operation_name"] == "Names"
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own lines too
    assert not [line for line in lines if "color_message" in line]  # no terminal colours


def test_a_job_logs_its_end_at_info_a_failure_as_a_warning_and_its_steps_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = JobTelemetry(Settings.model_validate({}))
    job = Job(id="01ABC", model=ModelRef("sentiment", "1"), texts=("a",))
    caplog.set_level(logging.DEBUG, logger="inferql.jobs")
    for kind, status, error in [
        (JobEventType.QUEUED, JobStatus.QUEUED, None),
        (JobEventType.STARTED, JobStatus.RUNNING, None),
        (JobEventType.SUCCEEDED, JobStatus.SUCCEEDED, None),
        (JobEventType.FAILED, JobStatus.FAILED, JobError("INTERNAL", "boom")),
        (JobEventType.CANCELED, JobStatus.CANCELED, None),
    ]:
        telemetry.event(JobEvent(kind, replace(job, status=status, error=error)))

    assert [(r.job_event, r.levelno) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("QUEUED", logging.DEBUG),
        ("STARTED", logging.DEBUG),
        ("SUCCEEDED", logging.INFO),
        ("FAILED", logging.WARNING),
        ("CANCELED", logging.INFO),
    ]
    assert caplog.records[3].error_code == "INTERNAL"  # type: ignore[attr-defined]
