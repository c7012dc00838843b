"""Webhooks: the outbox, the dispatcher's retries and restarts, and where they may
go. Every delivery goes to a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from standardwebhooks import Webhook

from inferql.backends.base import Backend
from inferql.backends.memory import MemoryBackend
from inferql.errors import BadUserInputError, ConflictError
from inferql.jobs import webhooks
from inferql.jobs.model import JobEventType, JobStatus
from inferql.jobs.service import JobService
from inferql.jobs.webhook_dispatcher import WebhookDispatcher
from inferql.security.apikeys import new_webhook_secret
from inferql.security.caller import Caller
from tests.conftest import HarnessFactory, SettingsFactory
from tests.support import WebhookReceiver

ALICE = Caller(owner="alice", scopes=frozenset({"classify", "jobs"}), via="api-key")
FAST = {"webhook_allow_private": True, "webhook_retry_base_s": 0.05, "webhook_timeout_s": 0.5}


async def finished_job_with_webhook(
    backend: Backend, service: JobService, url: str
) -> tuple[str, str]:
    """Submit a job for Alice that names ``url`` and wait until it succeeds;
    return its id and Alice's webhook secret."""
    secret = new_webhook_secret()
    await backend.api_keys.set_webhook_secret("alice", secret)
    job = await service.submit(["hello"], caller=ALICE, webhook_url=url)
    done = await service.wait(job.id, timeout=10)
    assert done.status is JobStatus.SUCCEEDED
    return job.id, secret


async def test_a_finished_job_is_delivered_signed(harness: HarnessFactory) -> None:
    h = harness(**FAST)
    with WebhookReceiver() as receiver:
        job_id, secret = await finished_job_with_webhook(h.backend, h.service, receiver.url)
        dispatcher = WebhookDispatcher(h.backend, h.settings)
        task = asyncio.create_task(dispatcher.run())
        [(headers, body)] = await receiver.until_received(1)
        dispatcher.stop()
        await task

    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "job.succeeded"
    assert payload["data"]["id"] == job_id
    assert payload["data"]["predictions"][0]["label"] == "hello"
    # The job's end, not the moment it was queued: announced again, the same body.
    assert payload["timestamp"] == payload["data"]["finishedAt"]
    assert headers["content-type"] == "application/json"
    assert await h.backend.webhooks.pending() == 0


async def test_a_failed_delivery_survives_a_dispatcher_restart(harness: HarnessFactory) -> None:
    h = harness(**FAST)
    with WebhookReceiver(statuses=[500]) as receiver:
        await finished_job_with_webhook(h.backend, h.service, receiver.url)
        first = WebhookDispatcher(h.backend, h.settings)
        assert await first.deliver_due() == 1  # refused by the receiver: rescheduled
        assert await h.backend.webhooks.pending() == 1
        # A new dispatcher (a restarted worker) finds it in the backend.
        second = WebhookDispatcher(h.backend, h.settings)
        task = asyncio.create_task(second.run())
        (h1, _), (h2, body) = await receiver.until_received(2)
        second.stop()
        await task

    assert h1["webhook-id"] == h2["webhook-id"]
    assert int(h2["webhook-timestamp"]) >= int(h1["webhook-timestamp"])
    assert json.loads(body)["type"] == "job.succeeded"
    assert await h.backend.webhooks.pending() == 0


async def test_a_delivery_whose_sender_died_is_sent_again(harness: HarnessFactory) -> None:
    h = harness(**FAST)
    with WebhookReceiver(statuses=[0]) as receiver:  # hangs up: the sender sees an error
        await finished_job_with_webhook(h.backend, h.service, receiver.url)
        doomed = WebhookDispatcher(h.backend, h.settings)
        # The sender takes the delivery and dies before it records anything.
        taken = await h.backend.webhooks.take(now=time.time(), limit=10, lease_s=0.3)
        assert len(taken) == 1 and await doomed.deliver_due() == 0  # leased: not due
        await asyncio.sleep(0.35)
        assert await doomed.deliver_due() == 1  # the lease lapsed: due again
        await receiver.until_received(1)
        assert await h.backend.webhooks.pending() == 1  # hung up on: retried later


async def test_a_delivery_is_dropped_after_its_last_attempt(harness: HarnessFactory) -> None:
    h = harness(**FAST, webhook_max_attempts=2)
    with WebhookReceiver(statuses=[500, 500, 500]) as receiver:
        await finished_job_with_webhook(h.backend, h.service, receiver.url)
        dispatcher = WebhookDispatcher(h.backend, h.settings)
        task = asyncio.create_task(dispatcher.run())
        await receiver.until_received(2)
        async with asyncio.timeout(5):
            while await h.backend.webhooks.pending():  # noqa: ASYNC110 - polls the backend
                await asyncio.sleep(0.02)
        dispatcher.stop()
        await task
        assert len(receiver.requests) == 2


def test_backoff_doubles_from_the_base(make_settings: SettingsFactory) -> None:
    settings = make_settings(webhook_retry_base_s=5)
    dispatcher = WebhookDispatcher(MemoryBackend(settings), settings)
    delays = [dispatcher.backoff(attempt) for attempt in (1, 2, 3, 20)]
    assert 4.5 <= delays[0] <= 5 and 9 <= delays[1] <= 10 and 18 <= delays[2] <= 20
    assert delays[3] <= 3600


@pytest.mark.parametrize(
    ("url", "settings", "message"),
    [
        ("ftp://example.com/x", {}, "http or https"),
        ("http://xn--/", {}, "not a URL"),
        ("http://a..b/", {}, "not a valid host name"),
        (f"http://{'a' * 64}.example/", {}, "not a valid host name"),
        ("http://user:pw@example.com/", {}, "user name"),
        ("http://127.0.0.1:9/x", {}, "non-public"),
        ("http://localhost:9/x", {}, "non-public"),
        ("http://10.1.2.3/x", {}, "non-public"),
        ("http://169.254.169.254/latest/meta-data", {}, "non-public"),
        ("http://[::1]:9/x", {}, "non-public"),
        ("http://[::ffff:127.0.0.1]:9/x", {}, "non-public"),
        # IPv6 forms of private IPv4 addresses: NAT64, 6to4, Teredo, compatible, translated
        ("http://[64:ff9b::7f00:1]/x", {}, "non-public"),
        ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data", {}, "non-public"),
        ("http://[64:ff9b:1::808:808]/x", {}, "non-public"),
        ("http://[2002:a00:1::1]/x", {}, "non-public"),
        ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/x", {}, "non-public"),
        ("http://[::127.0.0.1]/x", {}, "non-public"),
        ("http://[::ffff:0:a00:1]/x", {}, "non-public"),
        ("https://8.8.8.8/x", {"webhook_allowed_hosts": "hooks.example.com"}, "may not go"),
        (
            "https://evil.example.com.attacker.test/x",
            {"webhook_allowed_hosts": "*.example.com"},
            "may not go",
        ),
    ],
)
async def test_destinations_are_restricted(
    make_settings: SettingsFactory, url: str, settings: dict[str, str], message: str
) -> None:
    configured = make_settings(**settings)
    with pytest.raises(BadUserInputError, match=message):
        await webhooks.resolve(webhooks.check_url(url, configured), configured)


async def test_allowed_destinations(make_settings: SettingsFactory) -> None:
    private = make_settings(webhook_allow_private=True)
    listed = make_settings(webhook_allowed_hosts="*.example.com, 8.8.8.8")
    assert await webhooks.resolve(webhooks.check_url("http://127.0.0.1:9/", private), private)
    assert webhooks.check_url("https://a.example.com/h", listed).host == "a.example.com"
    assert await webhooks.resolve(webhooks.check_url("https://8.8.8.8/h", listed), listed) == [
        "8.8.8.8"
    ]
    public = make_settings()
    for carrying_public in ("64:ff9b::808:808", "2002:808:808::1"):  # 8.8.8.8 by NAT64, 6to4
        url = webhooks.check_url(f"https://[{carrying_public}]/h", public)
        assert await webhooks.resolve(url, public) == [carrying_public]


async def test_a_delivery_to_a_private_address_is_never_sent(harness: HarnessFactory) -> None:
    """A destination that became private after submission (DNS changed, settings
    changed) is checked again at delivery and not contacted."""
    h = harness(**FAST, webhook_max_attempts=1)
    with WebhookReceiver() as receiver:
        await finished_job_with_webhook(h.backend, h.service, receiver.url)
        strict = h.settings.model_copy(update={"webhook_allow_private": False})
        await WebhookDispatcher(h.backend, strict).deliver_due()
        assert receiver.requests == []
        assert await h.backend.webhooks.pending() == 0


async def test_a_webhook_needs_the_owners_secret(harness: HarnessFactory) -> None:
    h = harness(**FAST)
    with pytest.raises(BadUserInputError, match="webhook-secret alice"):
        await h.service.submit(["x"], caller=ALICE, webhook_url="http://127.0.0.1:9/")


async def test_a_cancel_sent_again_queues_the_webhook_its_first_try_did_not(
    harness: HarnessFactory,
) -> None:
    """The first cancel changed the job, then its process died before it queued
    the webhook; the client's retry finds the job canceled."""
    h = harness(start=False, **FAST)
    await h.backend.api_keys.set_webhook_secret("alice", new_webhook_secret())
    job = await h.service.submit(["x"], caller=ALICE, webhook_url="http://127.0.0.1:9/")
    unfinished = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
    await h.backend.advance(job.id, unfinished, JobEventType.CANCELED, status=JobStatus.CANCELED)
    assert await h.backend.webhooks.pending() == 0

    with pytest.raises(ConflictError, match="CANCELED"):
        await h.service.cancel(job.id, caller=ALICE)
    with pytest.raises(ConflictError):
        await h.service.cancel(job.id, caller=ALICE)

    [queued] = await h.backend.webhooks.take(now=time.time(), limit=10, lease_s=30)
    assert queued.job_id == job.id and json.loads(queued.payload)["type"] == "job.canceled"
