"""Access tokens against the keyring: rotation stages, hot reload and forged tokens."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from asoud.platform.keyring import KeyState, read_keyring, rotate, write_keyring
from asoud.platform.settings import Settings
from asoud.runtime import Platform
from tests.support.login import login

PHONE = "09125550000"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


async def test_token_header_names_the_active_key(
    client: httpx.AsyncClient, platform: Platform, settings: Settings
) -> None:
    tokens = await login(client, platform, PHONE)
    header = jwt.get_unverified_header(tokens["access_token"])
    ring = read_keyring(settings.jwt_keyring_file)  # type: ignore[arg-type]
    assert header == {"alg": "ES256", "kid": ring.active.kid, "typ": "JWT"}
    claims = _claims_of(tokens["access_token"])
    assert claims["exp"] - claims["iat"] == 900
    assert {"iss", "aud", "sub", "sid", "jti"} <= claims.keys()


async def test_jwks_publishes_every_key_without_private_parts(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    ring = read_keyring(settings.jwt_keyring_file)  # type: ignore[arg-type]
    keys = response.json()["keys"]
    assert {k["kid"] for k in keys} == {k.kid for k in ring.keys}
    for key in keys:
        assert key["kty"] == "EC" and key["crv"] == "P-256" and "d" not in key
        # a JWKS consumer can verify our tokens with it
        jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(key))


async def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    client: httpx.AsyncClient, platform: Platform, settings: Settings
) -> None:
    path = settings.jwt_keyring_file
    assert path is not None
    before = await login(client, platform, PHONE)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]

    write_keyring(path, rotate(read_keyring(path)))  # the operator's step, on the mounted file
    ring = read_keyring(path)
    assert ring.find(old_kid).state is KeyState.retiring  # type: ignore[union-attr]

    # a token signed by the now-retiring key is still accepted
    assert (await _me(client, before["access_token"])).status_code == 200
    # new tokens are signed by the promoted key, without restarting the app
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": before["refresh_token"]}
    )
    new_kid = jwt.get_unverified_header(refreshed.json()["access_token"])["kid"]
    assert new_kid == ring.active.kid != old_kid

    # a second rotation removes the retiring key: its tokens are refused from then on
    write_keyring(path, rotate(read_keyring(path)))
    assert read_keyring(path).find(old_kid) is None
    response = await _me(client, before["access_token"])
    assert response.status_code == 401 and response.json()["code"] == "token_invalid"
    assert (await _me(client, refreshed.json()["access_token"])).status_code == 200


async def test_a_broken_keyring_file_keeps_the_previous_keys(
    client: httpx.AsyncClient, platform: Platform, settings: Settings
) -> None:
    tokens = await login(client, platform, PHONE)
    settings.jwt_keyring_file.write_text("{ half written")  # type: ignore[union-attr]
    assert (await _me(client, tokens["access_token"])).status_code == 200


async def test_token_with_alg_none_is_refused(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    tokens = await login(client, platform, PHONE)
    header = jwt.get_unverified_header(tokens["access_token"])
    forged = f"{_b64({'alg': 'none', 'kid': header['kid'], 'typ': 'JWT'})}.{_b64(_claims_of(tokens['access_token']))}."
    response = await _me(client, forged)
    assert response.status_code == 401 and response.json()["code"] == "token_invalid"


async def test_hs256_signed_with_the_public_key_is_refused(
    client: httpx.AsyncClient, platform: Platform, settings: Settings
) -> None:
    tokens = await login(client, platform, PHONE)
    ring = read_keyring(settings.jwt_keyring_file)  # type: ignore[arg-type]
    public_pem = ring.active.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Build the classic key-confusion token by hand (PyJWT itself refuses to HMAC with a PEM).
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'kid': ring.active.kid, 'typ': 'JWT'})}.{_b64(_claims_of(tokens['access_token']))}"
    signature = (
        base64.urlsafe_b64encode(
            hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        )
        .rstrip(b"=")
        .decode()
    )
    response = await _me(client, f"{signing_input}.{signature}")
    assert response.status_code == 401 and response.json()["code"] == "token_invalid"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "evil"}, "wrong issuer"),
        ({"sid": None}, "missing session"),
    ],
)
async def test_tampered_claims_are_refused(
    client: httpx.AsyncClient, platform: Platform, change: dict[str, Any], reason: str
) -> None:
    tokens = await login(client, platform, PHONE)
    claims = {**_claims_of(tokens["access_token"]), **change}
    claims = {k: v for k, v in claims.items() if v is not None}
    resigned = platform.keyring.get().sign(claims)  # a valid signature: only the claims are wrong
    response = await _me(client, resigned)
    assert response.status_code == 401, reason


async def test_token_from_a_foreign_key_with_our_kid_is_refused(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    from asoud.platform.keyring import generate_key

    tokens = await login(client, platform, PHONE)
    header = jwt.get_unverified_header(tokens["access_token"])
    stranger = generate_key()
    forged = jwt.encode(
        _claims_of(tokens["access_token"]),
        stranger.private_key,
        algorithm="ES256",
        headers={"kid": header["kid"]},
    )
    assert (await _me(client, forged)).status_code == 401
    assert (await _me(client, tokens["access_token"])).status_code == 200


def test_remembered_verifications_still_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    from asoud.platform import keyring as keyring_module
    from asoud.platform.keyring import new_keyring

    ring = new_keyring()
    now = int(time.time())
    claims = {
        "iss": "i",
        "aud": "a",
        "sub": "u",
        "sid": "s",
        "jti": "j",
        "iat": now,
        "exp": now + 60,
    }
    token = ring.sign(claims)
    assert ring.verify(token, audience="a", issuer="i")["sub"] == "u"
    assert ring.verify(token, audience="a", issuer="i")["sub"] == "u"  # served from memory
    with pytest.raises(jwt.InvalidAudienceError):
        ring.verify(token, audience="other", issuer="i")  # the memory is per audience/issuer
    monkeypatch.setattr(keyring_module.time, "time", lambda: now + 3600)
    with pytest.raises(jwt.ExpiredSignatureError):
        ring.verify(token, audience="a", issuer="i")
