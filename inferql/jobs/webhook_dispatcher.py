"""The webhook dispatcher: it takes due deliveries from the backend's outbox,
POSTs each to the address its destination was checked to resolve to, signed
with the owner's secret (:mod:`inferql.jobs.webhooks`), and retries a failure
with exponential backoff up to ``webhook_max_attempts``. It runs beside each
worker; deliveries are leased, so one whose dispatcher died is sent again by
the next.

Each delivery is sent by a task of its own, up to ``_MAX_IN_FLIGHT`` at once,
so a slow receiver holds up only its own deliveries. One attempt takes at most
``webhook_timeout_s`` all told (resolving, connecting, sending, the answer's
status; the answer's body is never read), and a delivery is leased for that
plus ``_LEASE_MARGIN_S``: another dispatcher does not take it while it is in
flight.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import replace
from datetime import UTC, datetime

import httpx

from inferql.backends.base import Backend
from inferql.backends.stores import WebhookDelivery
from inferql.errors import BadUserInputError, UnavailableError
from inferql.jobs.webhooks import check_url, origin, resolve, sign
from inferql.settings import Settings

logger = logging.getLogger(__name__)

# How often an idle dispatcher looks at the outbox.
_POLL_S = 0.2
# How long it waits after the backend was away, or taking deliveries failed.
_AWAY_PAUSE_S = 1.0
# Deliveries in flight at once, per dispatcher.
_MAX_IN_FLIGHT = 32
# A lease outlasts one attempt by this much: the backend reads and writes around
# the attempt (a Redis command gives up within seconds), a busy event loop, and
# clocks of replicas that differ a little.
_LEASE_MARGIN_S = 30.0
_MAX_BACKOFF_S = 3600.0
USER_AGENT = "inferql-webhooks"


class WebhookDispatcher:
    """Sends the outbox's due deliveries until ``stop`` is called."""

    def __init__(
        self, backend: Backend, settings: Settings, client: httpx.AsyncClient | None = None
    ) -> None:
        self._backend = backend
        self._settings = settings
        self._client = client or httpx.AsyncClient(
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            headers={"user-agent": USER_AGENT},
            trust_env=False,
        )
        self._owns_client = client is None
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()  # also set by stop
        self._in_flight: set[asyncio.Task[None]] = set()
        self.lease_s = settings.webhook_timeout_s + _LEASE_MARGIN_S

    def stop(self) -> None:
        """Take no more deliveries; ``run`` returns once those in flight are done
        (each within ``webhook_timeout_s``)."""
        self._stopping.set()
        self._slot_freed.set()

    async def run(self) -> None:
        """Deliver until stopped. A backend that is away (or any other failure) is
        logged and retried after a pause: it never ends the loop, so it never
        takes down the worker beside it. Cancelled, it cancels the deliveries in
        flight: their leases lapse and another dispatcher sends them."""
        try:
            async with asyncio.TaskGroup() as sending:
                while not self._stopping.is_set():
                    await self._take_more(sending)
        finally:
            if self._owns_client:
                await self._client.aclose()

    async def _take_more(self, sending: asyncio.TaskGroup) -> None:
        free = _MAX_IN_FLIGHT - len(self._in_flight)
        if free <= 0:
            self._slot_freed.clear()
            await self._slot_freed.wait()
            return
        try:
            taken = await self._backend.webhooks.take(
                now=time.time(), limit=free, lease_s=self.lease_s
            )
        except UnavailableError as error:
            logger.warning("webhooks paused: %s", error.message)
            await self._pause(_AWAY_PAUSE_S)
            return
        except Exception:
            logger.exception("webhook dispatcher failed; going on")
            await self._pause(_AWAY_PAUSE_S)
            return
        for delivery in taken:
            task = sending.create_task(self._deliver_logged(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._sent)
        if len(taken) < free:  # nothing more is due now
            await self._pause(_POLL_S)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_freed.set()

    async def _pause(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def deliver_due(self) -> int:
        """Send the deliveries due now (up to as many as may be in flight), once,
        and wait for them; return how many were taken."""
        taken = await self._backend.webhooks.take(
            now=time.time(), limit=_MAX_IN_FLIGHT, lease_s=self.lease_s
        )
        await asyncio.gather(*(self._deliver(delivery) for delivery in taken))
        return len(taken)

    async def _deliver_logged(self, delivery: WebhookDelivery) -> None:
        """Deliver; a failure to record the outcome leaves the delivery to be
        taken again once its lease lapses."""
        try:
            await self._deliver(delivery)
        except UnavailableError as error:
            logger.warning("webhook %s left for later: %s", delivery.id, error.message)
        except Exception:
            logger.exception("webhook %s failed; it is sent again later", delivery.id)

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        outbox = self._backend.webhooks
        secret = await self._backend.api_keys.webhook_secret(delivery.owner)
        if secret is None:
            logger.error(
                "webhook %s dropped: %s has no webhook secret", delivery.id, delivery.owner
            )
            await outbox.remove(delivery.id)
            return
        outcome = await self._send(delivery, secret)
        if outcome is None:
            await outbox.remove(delivery.id)
            return
        attempt = delivery.attempt + 1
        if attempt >= self._settings.webhook_max_attempts:
            logger.error(
                "webhook %s to %s dropped after %d attempts: %s",
                delivery.id,
                origin(delivery.url),
                attempt,
                outcome,
            )
            await outbox.remove(delivery.id)
            return
        delay = self.backoff(attempt)
        logger.warning(
            "webhook %s to %s failed (%s); attempt %d in %.1f s",
            delivery.id,
            origin(delivery.url),
            outcome,
            attempt + 1,
            delay,
        )
        await outbox.reschedule(replace(delivery, attempt=attempt), due=time.time() + delay)

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: the base, doubled per attempt,
        capped at an hour, with up to 10% jitter so retries do not stampede."""
        delay: float = min(self._settings.webhook_retry_base_s * 2 ** (attempt - 1), _MAX_BACKOFF_S)
        return delay * random.uniform(0.9, 1.0)

    async def _send(self, delivery: WebhookDelivery, secret: str) -> str | None:
        """One attempt, cut off after ``webhook_timeout_s`` however slowly the
        receiver trickles; None on a 2xx answer, else why it failed."""
        timeout = self._settings.webhook_timeout_s
        try:
            async with asyncio.timeout(timeout):
                return await self._post(delivery, secret)
        except TimeoutError:
            return f"no answer within {timeout:g} s"

    async def _post(self, delivery: WebhookDelivery, secret: str) -> str | None:
        try:
            url = check_url(delivery.url, self._settings)
            addresses = await resolve(url, self._settings)
        except BadUserInputError as refused:
            return refused.message
        headers = {
            **sign(secret, delivery, datetime.now(UTC)),
            "content-type": "application/json",
            "host": url.netloc.decode(),
        }
        # Connect to the address that was checked; TLS still verifies the name.
        pinned = url.copy_with(host=addresses[0])
        try:
            # Only the status matters: the body is never read, and the response
            # closed unread closes its connection, however much more was coming.
            async with self._client.stream(
                "POST",
                pinned,
                content=delivery.payload.encode(),
                headers=headers,
                extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
            ) as response:
                status = response.status_code
        except httpx.HTTPError as error:
            return f"{type(error).__name__}"
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"
