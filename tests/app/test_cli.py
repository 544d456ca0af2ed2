"""The `asoud` command: keys, staff accounts and operator-issued tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from asoud.identity.models import User
from asoud.platform.keyring import KeyState, read_keyring
from asoud.platform.settings import Settings


def _asoud(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asoud", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_keys_generate_and_rotate(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    created = _asoud("keys", "generate", "--out", str(path))
    assert created.returncode == 0, created.stderr
    ring = read_keyring(path)
    assert [k.state for k in ring.keys] == [KeyState.active, KeyState.next]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert (
        _asoud("keys", "generate", "--out", str(path)).returncode == 1
    )  # never overwrites silently

    first_next = ring.keys[1].kid
    rotated = _asoud("keys", "rotate", "--file", str(path))
    assert rotated.returncode == 0
    after = read_keyring(path)
    assert after.active.kid == first_next
    assert {k.state for k in after.keys} == {KeyState.retiring, KeyState.active, KeyState.next}
    assert (
        _asoud(
            "keys", "generate", "--out", str(tmp_path / "x.json"), "--algorithm", "HS256"
        ).returncode
        == 2
    )


def _env(settings: Settings) -> dict[str, str]:
    return {
        "ASOUD_DATABASE_URL": settings.database_url,
        "ASOUD_REDIS_URL": settings.redis_url,
        "ASOUD_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "ASOUD_JWT_KEYRING_FILE": str(settings.jwt_keyring_file),
        "ASOUD_SECRET_KEY": settings.secret_key,
        "ASOUD_ENVIRONMENT": "test",
    }


async def test_create_staff_and_issue_token(client: httpx.AsyncClient, settings: Settings) -> None:
    created = _asoud("users", "create-staff", "--phone", "09120001111", env=_env(settings))
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created staff user")
    user = await User.get(phone="+989120001111")
    assert user.is_staff
    again = _asoud("users", "create-staff", "--phone", "+989120001111", env=_env(settings))
    assert again.stdout.startswith("promoted")
    assert await User.filter(phone="+989120001111").count() == 1

    issued = _asoud("token", "issue", "--phone", "09120001111", env=_env(settings))
    assert issued.returncode == 0, issued.stderr
    tokens = json.loads(issued.stdout)
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["is_staff"] is True and me.json()["capabilities"]["moderate"] is True

    assert _asoud("users", "create-staff", "--phone", "12", env=_env(settings)).returncode == 2
    assert _asoud("token", "issue", "--phone", "09129999999", env=_env(settings)).returncode == 1
