"""Jobs and predictions as JSON, for Redis. The dataclasses are the schema:
pydantic validates them field by field, so a new field needs no code here."""

from __future__ import annotations

from pydantic import TypeAdapter

from inferql.inference import Prediction
from inferql.jobs.model import Job, JobEvent

_job = TypeAdapter(Job)
_event = TypeAdapter(JobEvent)
_prediction = TypeAdapter(Prediction)


def dump_job(job: Job) -> str:
    return _job.dump_json(job).decode()


def load_job(data: str | bytes) -> Job:
    return _job.validate_json(data)


def dump_event(event: JobEvent) -> str:
    return _event.dump_json(event).decode()


def load_event(data: str | bytes) -> JobEvent:
    return _event.validate_json(data)


def dump_prediction(prediction: Prediction) -> str:
    return _prediction.dump_json(prediction).decode()


def load_prediction(data: str | bytes) -> Prediction:
    return _prediction.validate_json(data)
