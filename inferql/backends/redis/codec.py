"""Jobs, predictions and webhook deliveries as JSON, for Redis. The dataclasses
are the schema: pydantic validates them field by field, so a new field needs
no code here."""

from __future__ import annotations

from pydantic import TypeAdapter

from inferql.backends.stores import WebhookDelivery
from inferql.inference import Prediction
from inferql.jobs.model import Job, JobEvent

_job = TypeAdapter(Job)
_event = TypeAdapter(JobEvent)
_prediction = TypeAdapter(Prediction)
_delivery = TypeAdapter(WebhookDelivery)


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


def dump_delivery(delivery: WebhookDelivery) -> str:
    return _delivery.dump_json(delivery).decode()


def load_delivery(data: str | bytes) -> WebhookDelivery:
    return _delivery.validate_json(data)
