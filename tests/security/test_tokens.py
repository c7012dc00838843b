"""JWTs: HS256 and RS256 (from a JWKS file), with issuer, audience and expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from inferql.errors import UnauthenticatedError
from inferql.security.tokens import TokenVerifier
from tests.conftest import SettingsFactory

ISSUER, AUDIENCE = "https://issuer.test", "inferql"


def claims(**overrides: Any) -> dict[str, Any]:
    return {
        "sub": "dana",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(time.time()) + 60,
        "scp": ["classify"],
        **overrides,
    }


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_verifier(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, make_settings: SettingsFactory
) -> TokenVerifier:
    jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    return TokenVerifier(
        make_settings(
            jwt_jwks_file=path, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_scopes_claim="scp"
        )
    )


def test_an_rs256_token_from_the_jwks_names_its_subject_and_scopes(
    jwks_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})
    caller = jwks_verifier.verify(token)
    assert (caller.owner, caller.scopes, caller.via) == ("dana", frozenset({"classify"}), "jwt")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"exp": int(time.time()) - 600}, "expired"),
        ({"aud": "other"}, "not valid"),
        ({"iss": "https://other.test"}, "not valid"),
        ({"sub": None}, "not valid"),
    ],
)
def test_wrong_claims_are_refused(
    jwks_verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
    overrides: dict[str, Any],
    message: str,
) -> None:
    payload = {k: v for k, v in claims(**overrides).items() if v is not None}
    token = jwt.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(UnauthenticatedError, match=message):
        jwks_verifier.verify(token)


def test_an_unknown_kid_or_a_foreign_key_is_refused(jwks_verifier: TokenVerifier) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(UnauthenticatedError):
        jwks_verifier.verify(jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "k2"}))
    with pytest.raises(UnauthenticatedError):
        jwks_verifier.verify(jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "k1"}))


def test_hs256_signed_with_the_public_key_is_refused(
    jwks_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The classic algorithm confusion: the public key used as an HMAC secret."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = (
        b64(b'{"alg":"HS256","typ":"JWT","kid":"k1"}') + b"." + b64(json.dumps(claims()).encode())
    )
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + b64(signature)).decode()
    with pytest.raises(UnauthenticatedError):
        jwks_verifier.verify(forged)


def test_an_unsigned_token_is_refused(make_settings: SettingsFactory) -> None:
    verifier = TokenVerifier(
        make_settings(jwt_secret="s" * 32, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    )
    unsigned = jwt.encode(claims(), "", algorithm="none")
    with pytest.raises(UnauthenticatedError):
        verifier.verify(unsigned)
    assert verifier.verify(jwt.encode(claims(), "s" * 32, algorithm="HS256")).owner == "dana"


def test_jwts_need_an_issuer_and_an_audience(make_settings: SettingsFactory) -> None:
    with pytest.raises(ValueError, match="jwt_issuer and jwt_audience"):
        make_settings(jwt_secret="s" * 32)
