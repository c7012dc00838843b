"""The webhook dispatcher against receivers that misbehave (a trickled answer, a
body that never ends, no answer at all), with two dispatchers at once, and what
its logs say. Every delivery goes to a real receiver on loopback; each test runs
on the memory backend and on Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import count

import pytest

from inferql.backends import create_backend
from inferql.backends.stores import WebhookDelivery
from inferql.jobs.webhook_dispatcher import WebhookDispatcher
from inferql.security.apikeys import new_webhook_secret
from tests.conftest import Harness, HarnessFactory
from tests.support import WebhookReceiver
from tests.webhook_receivers import RawReceiver, flooding, hanging, trickling

FAST = {"webhook_allow_private": True, "webhook_retry_base_s": 0.05, "webhook_timeout_s": 0.5}
_ids = count()


async def queue_webhook(h: Harness, url: str, owner: str = "alice") -> WebhookDelivery:
    """Put a delivery to ``url`` in the outbox, due now, for ``owner``."""
    if await h.backend.api_keys.webhook_secret(owner) is None:
        await h.backend.api_keys.set_webhook_secret(owner, new_webhook_secret())
    job_id = f"job{next(_ids)}"
    delivery = WebhookDelivery(
        id=f"msg_{job_id}", job_id=job_id, owner=owner, url=url, payload='{"type":"job.x"}'
    )
    await h.backend.webhooks.add(delivery, due=time.time())
    return delivery


async def test_an_attempt_ends_at_the_timeout_however_slowly_the_answer_trickles(
    harness: HarnessFactory,
) -> None:
    """Every byte comes well within the timeout, the answer takes a minute: the
    attempt is cut off at ``webhook_timeout_s`` and retried later."""
    h = harness(start=False, **FAST)
    with RawReceiver(trickling) as receiver:
        await queue_webhook(h, receiver.url)
        async with asyncio.timeout(10):
            assert await WebhookDispatcher(h.backend, h.settings).deliver_due() == 1
        assert receiver.connections == 1
    [again] = await h.backend.webhooks.take(now=time.time() + 60, limit=5, lease_s=1)
    assert again.attempt == 1  # it failed, and waits for its next attempt


async def test_only_the_status_is_read_not_the_body(harness: HarnessFactory) -> None:
    """A 200 with a body that never ends is a delivery, at once, and the body is
    not read (nor buffered) beyond what the sockets hold."""
    h = harness(start=False, **{**FAST, "webhook_timeout_s": 1})
    with RawReceiver(flooding) as receiver:
        await queue_webhook(h, receiver.url)
        async with asyncio.timeout(10):
            await WebhookDispatcher(h.backend, h.settings).deliver_due()
        assert await h.backend.webhooks.pending() == 0
    assert receiver.sent < 64 * 2**20


async def test_a_receiver_that_never_answers_holds_up_no_other_delivery(
    harness: HarnessFactory,
) -> None:
    """Bob's receiver hangs (for as long as the timeout, a minute); Alice's
    webhook, due while Bob's is in flight, is sent meanwhile."""
    h = harness(start=False, **{**FAST, "webhook_timeout_s": 60})
    dispatcher = WebhookDispatcher(h.backend, h.settings)
    task = asyncio.create_task(dispatcher.run())
    try:
        with RawReceiver(hanging) as hung, WebhookReceiver() as receiver:
            await queue_webhook(h, hung.url, owner="bob")
            await hung.until_connected(1)
            alices = await queue_webhook(h, receiver.url)
            [(headers, _)] = await receiver.until_received(1, timeout=15)
            assert headers["webhook-id"] == alices.id
            async with asyncio.timeout(5):
                while await h.backend.webhooks.pending() > 1:  # noqa: ASYNC110 - polls the outbox
                    await asyncio.sleep(0.02)  # until Alice's is recorded as sent
            assert hung.connections == 1  # Bob's, still in flight
        # Closed, the hung receiver hangs up: Bob's attempt ends.
    finally:
        dispatcher.stop()
        async with asyncio.timeout(10):
            await task
    assert await h.backend.webhooks.pending() == 1  # Bob's, to be retried


async def test_two_dispatchers_never_send_one_delivery_at_once(harness: HarnessFactory) -> None:
    """Two replicas' dispatchers share the outbox. The receiver would take a
    minute: the attempt ends at the timeout, well within its lease, so the other
    dispatcher never takes it meanwhile."""
    h = harness(start=False, **{**FAST, "webhook_retry_base_s": 600})
    # With Redis, the second dispatcher has a client (a replica) of its own.
    other = create_backend(h.settings) if h.settings.redis_url else h.backend
    dispatchers = [WebhookDispatcher(h.backend, h.settings), WebhookDispatcher(other, h.settings)]
    tasks = [asyncio.create_task(d.run()) for d in dispatchers]
    try:
        with RawReceiver(trickling) as receiver:
            await queue_webhook(h, receiver.url)
            await receiver.until_connected(1)
            # Past twice the timeout and more: the lease an attempt once had.
            await asyncio.sleep(4 * h.settings.webhook_timeout_s + 1)
            assert receiver.connections == 1
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        if other is not h.backend:
            await other.close()
    [again] = await h.backend.webhooks.take(now=time.time() + 3600, limit=5, lease_s=1)
    assert again.attempt == 1


async def test_logs_name_the_receivers_origin_not_its_url(
    harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Webhook URLs often carry a token: a failed or dropped delivery's log line
    names only the scheme, host and port."""
    h = harness(start=False, **FAST, webhook_max_attempts=2)
    caplog.set_level(logging.WARNING, logger="inferql.jobs.webhook_dispatcher")
    with WebhookReceiver(statuses=[500, 500]) as receiver:
        queued = await queue_webhook(h, f"{receiver.url}/tok_s3cret?key=s3cret")
        dispatcher = WebhookDispatcher(h.backend, h.settings)
        assert await dispatcher.deliver_due() == 1  # failed: retried
        async with asyncio.timeout(5):
            while not await dispatcher.deliver_due():  # noqa: ASYNC110 - polls the outbox
                await asyncio.sleep(0.02)  # until it is due: then dropped
        assert len(receiver.requests) == 2
    lines = [r.getMessage() for r in caplog.records if queued.id in r.getMessage()]
    assert len(lines) == 2
    assert all(f"http://127.0.0.1:{receiver.port}" in line for line in lines)
    assert not any("s3cret" in line for line in lines)
