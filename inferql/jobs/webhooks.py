"""Webhooks: when a job that names a webhook URL reaches its terminal state, its
final state is POSTed there, signed the Standard Webhooks way
(https://www.standardwebhooks.com): headers ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature`` (``v1,`` + HMAC-SHA256 with the owner's secret).

Deliveries are written to the backend's outbox when the job ends (:func:`enqueue`),
and a dispatcher (running beside each worker, :mod:`inferql.jobs.webhook_dispatcher`)
sends them, retrying with exponential backoff. A dispatcher that dies leaves its
deliveries in the outbox, where the next one picks them up.

Destinations: http(s) only, restricted to ``webhook_allowed_hosts`` when set,
and never a loopback, private, link-local or otherwise non-public address unless
``webhook_allow_private``. The check resolves the host and the request goes to
the address that was checked, so DNS cannot swap in a private one in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from inferql.backends.base import Backend
from inferql.backends.stores import WebhookDelivery
from inferql.errors import BadUserInputError
from inferql.jobs.model import Job
from inferql.settings import Settings

MAX_URL_LENGTH = 2048


# -- destinations -------------------------------------------------------------


def check_url(url: str, settings: Settings) -> httpx.URL:
    """The parsed URL if it may be a webhook destination by its form and host
    name; BadUserInputError otherwise. Addresses are checked by ``resolve``."""
    try:
        parsed = httpx.URL(url)
        host = parsed.host.lower()  # decoding an IDNA host may fail too
    except (httpx.InvalidURL, TypeError, UnicodeError):
        raise _refused("`webhookUrl` is not a URL.") from None
    if len(url) > MAX_URL_LENGTH or parsed.scheme not in ("http", "https") or not host:
        raise _refused("`webhookUrl` must be an http or https URL.")
    if parsed.userinfo:
        raise _refused("`webhookUrl` may not carry a user name or password.")
    allowed = settings.webhook_hosts
    if allowed and not any(_host_matches(host, pattern) for pattern in allowed):
        raise _refused(f"Webhooks may not go to {host}.")
    return parsed


async def resolve(url: httpx.URL, settings: Settings) -> list[str]:
    """The addresses of the URL's host, all of them allowed; BadUserInputError if
    the host does not resolve or any address is not public (unless allowed)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            url.host, url.port or (443 if url.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError:
        raise _refused(f"The webhook host {url.host} does not resolve.") from None
    except UnicodeError:  # a label empty or longer than 63 characters
        raise _refused(f"The webhook host {url.host} is not a valid host name.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not settings.webhook_allow_private:
        for address in addresses:
            if not _public(address):
                raise _refused(f"Webhooks may not go to a non-public address ({address}).")
    return addresses


# IPv6 forms that carry an IPv4 address a packet may be passed on to: NAT64's
# well-known prefix (RFC 6052) and SIIT's IPv4-translated addresses (RFC 2765).
_CARRY_IPV4 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::ffff:0:0:0/96"))
# Refused whatever they carry: IPv4-compatible addresses (deprecated, RFC 4291)
# and NAT64's local-use prefix (RFC 8215), whose IPv4 part only its network knows.
_REFUSED = (ipaddress.IPv6Network("::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _public(address: str) -> bool:
    """Whether ``address`` is public; an IPv6 address that stands for IPv4 ones
    (mapped, NAT64, 6to4, Teredo, translated) only if they are public too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _global(ip)
    if ip.ipv4_mapped is not None:
        return _global(ip.ipv4_mapped)
    if any(ip in network for network in _REFUSED):
        return False
    carried: list[ipaddress.IPv4Address] = [*(ip.teredo or ()), *filter(None, [ip.sixtofour])]
    if any(ip in network for network in _CARRY_IPV4):
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    return _global(ip) and all(_global(v4) for v4 in carried)


def _global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a webhook URL, for logs: its path and query
    often carry a token."""
    try:
        parsed = httpx.URL(url)
        return f"{parsed.scheme}://{parsed.netloc.decode()}"
    except (httpx.InvalidURL, TypeError, UnicodeError):
        return "(not a URL)"


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return host == pattern


def _refused(message: str) -> BadUserInputError:
    return BadUserInputError(message, argument="webhookUrl")


# -- payloads -----------------------------------------------------------------


def payload_for(job: Job) -> str:
    """The body POSTed for a finished job: ``{type, timestamp, data}`` as the
    Standard Webhooks spec suggests, with the job as the GraphQL API shows it.
    The timestamp is the job's end, so that a job's end announced again (after
    its worker died) makes the same body."""
    return json.dumps(
        {
            "type": f"job.{job.status.value.lower()}",
            "timestamp": (job.finished_at or datetime.now(UTC)).isoformat(),
            "data": _job_json(job),
        },
        separators=(",", ":"),
    )


def _job_json(job: Job) -> dict[str, Any]:
    def iso(at: datetime | None) -> str | None:
        return None if at is None else at.isoformat()

    return {
        "id": job.id,
        "status": job.status.value,
        "model": {"name": job.model.name, "version": job.model.version},
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
        "progress": {"done": job.done, "total": job.total},
        "predictions": None
        if job.predictions is None
        else [
            {
                "label": p.label,
                "score": p.score,
                "scores": [{"label": s.label, "score": s.score} for s in p.scores],
                "head": p.head,
                "cached": p.cached,
                "truncated": p.truncated,
            }
            for p in job.predictions
        ],
        "error": None
        if job.error is None
        else {"code": job.error.code, "message": job.error.message},
    }


def delivery_for(job: Job) -> WebhookDelivery | None:
    """The webhook of a job that ended, if it names one."""
    if job.webhook_url is None or not job.status.terminal:
        return None
    return WebhookDelivery(
        id=f"msg_{job.id}",
        job_id=job.id,
        owner=job.owner,
        url=job.webhook_url,
        payload=payload_for(job),
    )


async def enqueue(backend: Backend, job: Job) -> None:
    """Put the webhook of a job that just ended in the outbox, if it has one."""
    delivery = delivery_for(job)
    if delivery is not None:
        await backend.webhooks.add(delivery, due=time.time())


def sign(secret: str, delivery: WebhookDelivery, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt of ``delivery``."""
    return {
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(delivery.id, at, delivery.payload),
    }
