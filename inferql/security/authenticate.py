"""Authentication: credentials in, a Caller out.

Over HTTP a request sends ``Authorization: Bearer <API key or JWT>`` or
``X-API-Key: <API key>``. Over a websocket the same names go in the
``connection_init`` payload (browsers cannot set handshake headers), or in the
handshake headers. With authentication off every request is the local caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from inferql.backends.base import KeyStore
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
        return await self._from_credential(headers.get("authorization"), headers.get("x-api-key"))

    async def from_connection_params(
        self, params: Mapping[str, object] | None, headers: Mapping[str, str]
    ) -> Caller:
        """The caller of a websocket: from its ``connection_init`` payload, else
        from its handshake headers."""
        if not self.enabled:
            return LOCAL_CALLER
        lowered = {str(k).lower(): v for k, v in (params or {}).items()}
        authorization = lowered.get("authorization")
        api_key = lowered.get("x-api-key", lowered.get("apikey"))
        if authorization is None and api_key is None:
            return await self.from_headers(headers)
        return await self._from_credential(
            authorization if isinstance(authorization, str) else None,
            api_key if isinstance(api_key, str) else None,
        )

    async def _from_credential(self, authorization: str | None, api_key: str | None) -> Caller:
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise UnauthenticatedError("`Authorization` must be `Bearer <API key or JWT>`.")
            token = token.strip()
            if apikeys.looks_like_key(token):
                return await self._from_api_key(token)
            return self._tokens.verify(token)
        if api_key is not None:
            return await self._from_api_key(api_key.strip())
        raise UnauthenticatedError(MISSING)

    async def _from_api_key(self, token: str) -> Caller:
        key_id = apikeys.key_id_of(token)
        record = None if key_id is None else await self._keys.find(key_id)
        if record is None or not record.active or not apikeys.matches(record, token):
            raise UnauthenticatedError("The API key is not valid (unknown or revoked).")
        return Caller(owner=record.owner, scopes=record.scopes, via="api-key", credential=record.id)
