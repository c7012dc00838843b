"""Authentication: credentials in, a Caller out.

Over HTTP a request sends ``Authorization: Bearer <API key or JWT>`` or
``X-API-Key: <API key>``. Over a websocket the same names go in the
``connection_init`` payload (browsers cannot set handshake headers), or in the
handshake headers, and are kept: the guard checks them again before each of the
socket's operations and while it is open. With authentication off every
request is the local caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from inferql.backends.stores import KeyStore
from inferql.errors import UnauthenticatedError
from inferql.security import apikeys
from inferql.security.caller import LOCAL_CALLER, Caller
from inferql.security.tokens import TokenVerifier
from inferql.settings import Settings

logger = logging.getLogger(__name__)

MISSING = (
    "Credentials required: send an API key (`X-API-Key` or `Authorization: Bearer`) "
    "or a JWT (`Authorization: Bearer`)."
)


@dataclass(frozen=True, slots=True)
class Credential:
    """What a caller presents: an ``Authorization`` value, an API key, or neither."""

    authorization: str | None = None
    api_key: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated credential: its caller and, for a JWT, when it stops
    being accepted (its ``exp`` plus the leeway, seconds since the epoch)."""

    caller: Caller
    expires_at: float | None = None


class Authenticator:
    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self.enabled = settings.auth_enabled
        self._keys = keys
        self._tokens = TokenVerifier(settings)
        if not self.enabled and (
            settings.redis_url
            or settings.api_keys_file
            or settings.jwt_secret
            or settings.jwt_jwks_file
        ):
            logger.warning(
                "authentication is OFF (INFERQL_AUTH=off) with a keys file, JWT settings or "
                "Redis (which holds API keys): every request is served as the local admin caller"
            )

    async def from_headers(self, headers: Mapping[str, str]) -> Caller:
        """The caller that HTTP headers (looked up by lower-case name) identify;
        UnauthenticatedError if they carry no valid credential."""
        if not self.enabled:
            return LOCAL_CALLER
        credential = Credential(headers.get("authorization"), headers.get("x-api-key"))
        return (await self.authenticate(credential)).caller

    def websocket_credential(
        self, params: Mapping[str, object] | None, headers: Mapping[str, str]
    ) -> Credential:
        """What a websocket presents: the names of its ``connection_init``
        payload, else its handshake headers. Kept for the socket's life, so that
        every operation on it is checked again (see the guard)."""
        lowered = {str(k).lower(): v for k, v in (params or {}).items()}
        authorization = lowered.get("authorization")
        api_key = lowered.get("x-api-key", lowered.get("apikey"))
        if authorization is None and api_key is None:
            return Credential(headers.get("authorization"), headers.get("x-api-key"))
        return Credential(
            authorization if isinstance(authorization, str) else None,
            api_key if isinstance(api_key, str) else None,
        )

    async def authenticate(self, credential: Credential) -> Identity:
        """Who ``credential`` names, and until when (a JWT's expiry); raises
        UnauthenticatedError if it is no valid credential (now)."""
        if not self.enabled:
            return Identity(LOCAL_CALLER)
        if credential.authorization is not None:
            scheme, _, token = credential.authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise UnauthenticatedError("`Authorization` must be `Bearer <API key or JWT>`.")
            token = token.strip()
            if apikeys.looks_like_key(token):
                return Identity(await self._from_api_key(token))
            return Identity(*self._tokens.verify_until(token))
        if credential.api_key is not None:
            return Identity(await self._from_api_key(credential.api_key.strip()))
        raise UnauthenticatedError(MISSING)

    async def _from_api_key(self, token: str) -> Caller:
        key_id = apikeys.key_id_of(token)
        record = None if key_id is None else await self._keys.find(key_id)
        if record is None or not record.active or not apikeys.matches(record, token):
            raise UnauthenticatedError("The API key is not valid (unknown or revoked).")
        return Caller(owner=record.owner, scopes=record.scopes, via="api-key", credential=record.id)
