"""API keys: how they look, how they are stored (hashed) and checked, and the
per-owner webhook signing secrets that live next to them.

A key reads ``iqk_<id>_<secret>``: the id finds the stored record, and only the
SHA-256 of the whole key is stored. The secret is 256 random bits, so a fast
hash is enough (there is nothing to brute-force, unlike a password).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime

PREFIX = "iqk_"
_TOKEN = re.compile(r"^iqk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
WEBHOOK_SECRET_PREFIX = "whsec_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key: never the key itself, only its hash."""

    id: str
    name: str
    owner: str
    scopes: frozenset[str]
    hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def revoked(self) -> ApiKey:
        return replace(self, revoked_at=datetime.now(UTC))

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "scopes": sorted(self.scopes),
            "hash": self.hash,
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ApiKey:
        revoked = data.get("revoked_at")
        scopes = data.get("scopes")
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            owner=str(data["owner"]),
            scopes=frozenset(str(s) for s in scopes) if isinstance(scopes, list) else frozenset(),
            hash=str(data["hash"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            revoked_at=None if revoked is None else datetime.fromisoformat(str(revoked)),
        )


def generate_key(name: str, owner: str, scopes: frozenset[str]) -> tuple[ApiKey, str]:
    """A new key record and the key itself, which is shown once and never stored."""
    key_id = secrets.token_hex(8)
    token = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(
        id=key_id,
        name=name,
        owner=owner,
        scopes=scopes,
        hash=hash_token(token),
        created_at=datetime.now(UTC),
    )
    return record, token


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def key_id_of(token: str) -> str | None:
    """The id inside a well-formed key, or None if ``token`` is not an API key."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


def matches(record: ApiKey, token: str) -> bool:
    """Whether ``token`` is the key ``record`` was made from (constant time)."""
    return hmac.compare_digest(record.hash, hash_token(token))


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
