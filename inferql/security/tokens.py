"""JWT bearer tokens, checked with PyJWT: HS256 with a shared secret, RS256 with
the public keys of a JWKS file (picked by the token's ``kid``). The issuer, the
audience and the expiry are always checked; the scopes come from one claim and
the owner of the caller's jobs is the token's subject (``sub``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jwt

from inferql.errors import UnauthenticatedError
from inferql.security.caller import Caller, parse_scopes
from inferql.settings import Settings

logger = logging.getLogger(__name__)


class TokenVerifier:
    """Verifies JWTs as the settings say. ``enabled`` is False when neither a
    secret nor a JWKS file is configured."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._jwks = _load_jwks(settings.jwt_jwks_file) if settings.jwt_jwks_file else None

    @property
    def enabled(self) -> bool:
        return self._secret is not None or self._jwks is not None

    def verify(self, token: str) -> Caller:
        """The caller a valid token names; UnauthenticatedError for anything else
        (a bad signature, a wrong issuer or audience, an expired token)."""
        return self.verify_until(token)[0]

    def verify_until(self, token: str) -> tuple[Caller, float]:
        """As :meth:`verify`, and when the token stops being accepted: its ``exp``
        plus the leeway, in seconds since the epoch."""
        if not self.enabled:
            raise UnauthenticatedError("This server accepts API keys, not JWTs.")
        try:
            header = jwt.get_unverified_header(token)
            key, algorithm = self._key_for(header)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                leeway=self._settings.jwt_leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError("The token has expired.") from None
        except jwt.PyJWTError as error:
            logger.info("refused a JWT: %s", error)
            raise UnauthenticatedError("The token is not valid for this server.") from None
        raw_scopes = claims.get(self._settings.jwt_scopes_claim)
        caller = Caller(
            owner=str(claims["sub"]),
            scopes=parse_scopes(raw_scopes if isinstance(raw_scopes, str | list) else None),
            via="jwt",
            credential=str(claims["sub"]),
        )
        return caller, float(claims["exp"]) + self._settings.jwt_leeway_s

    def _key_for(self, header: dict[str, Any]) -> tuple[Any, str]:
        algorithm = header.get("alg")
        if algorithm == "HS256" and self._secret is not None:
            return self._secret, "HS256"
        if algorithm == "RS256" and self._jwks is not None:
            kid = header.get("kid")
            keys = [
                k
                for k in self._jwks.keys
                if k.key_type == "RSA" and (kid is None or k.key_id == kid)
            ]
            if not keys:
                raise jwt.InvalidKeyError(f"no key with kid {kid!r}")
            return keys[0], "RS256"
        raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted")


def _load_jwks(path: Path) -> jwt.PyJWKSet:
    """The RS256 keys of a JWKS file; fails loudly on a file that holds none."""
    data = json.loads(path.read_text())
    keys = jwt.PyJWKSet.from_dict(data)
    rsa = [key for key in keys.keys if key.key_type == "RSA"]
    if not rsa:
        raise ValueError(f"{path} holds no RSA key")
    return keys
