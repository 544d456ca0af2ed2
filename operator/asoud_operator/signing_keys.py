"""The operator-managed JWT keyset Secret, in exactly the app's keyring format.

It uses the app's own module (``asoud.platform.keyring``), so both sides read and write the
same JSON. Rotation stages keys next → active → retiring → removed: a ``next`` key is
published (JWKS) a whole rotation interval before it signs, and a retiring key is kept until
the grace period (longer than any token's life) has passed.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime, timedelta

from asoud.platform.keyring import Keyring, KeyState, generate_key, new_keyring
from asoud_operator.conditions import now_iso
from asoud_operator.spec import StoreSpec

ROTATE_ANNOTATION = "asoud.io/rotate-signing-keys"


def encode(ring: Keyring) -> str:
    return base64.b64encode(ring.to_json().encode()).decode()


def decode(data: str) -> Keyring:
    return Keyring.from_json(base64.b64decode(data).decode())


def initial(algorithm: str) -> Keyring:
    return new_keyring(algorithm)


def due(ring: Keyring, interval: timedelta, now: datetime) -> bool:
    return now - ring.active.created_at >= interval


def advance(ring: Keyring, algorithm: str, grace: timedelta, now: datetime) -> Keyring:
    """One rotation: active → retiring, next → active, a new next; retiring keys older than
    the grace period (counted from when they stopped signing) are removed."""
    kept = []
    for key in ring.keys:
        if key.state is KeyState.retiring:
            if now - key.created_at < grace:  # its tokens may still be alive
                kept.append(key)
        elif key.state is KeyState.active:
            # created_at of a retiring key records when it stopped signing.
            kept.append(replace(key, state=KeyState.retiring, created_at=now))
        elif key.state is KeyState.next:
            kept.append(replace(key, state=KeyState.active, created_at=now))
    if not any(k.state is KeyState.active for k in kept):
        kept.append(generate_key(algorithm, KeyState.active))
    kept.append(generate_key(algorithm, KeyState.next))
    result = Keyring(tuple(kept))
    result.validate()
    return result


def prune(ring: Keyring, grace: timedelta, now: datetime) -> Keyring | None:
    """Remove retiring keys past the grace period; None when nothing changes."""
    kept = tuple(
        k for k in ring.keys if not (k.state is KeyState.retiring and now - k.created_at >= grace)
    )
    return None if len(kept) == len(ring.keys) else Keyring(kept)


def status(ring: Keyring, interval: timedelta) -> dict[str, object]:
    active = ring.active
    return {
        "activeKid": active.kid,
        "nextKid": next((k.kid for k in ring.keys if k.state is KeyState.next), ""),
        "retiringKids": [k.kid for k in ring.keys if k.state is KeyState.retiring],
        "lastRotationTime": now_iso(active.created_at),
        "nextRotationTime": now_iso(active.created_at + interval),
    }


def seconds_until_change(ring: Keyring, spec: StoreSpec, now: datetime) -> float:
    """When the keyset next needs a pass: the scheduled rotation or a retiring key's end."""
    moments = [ring.active.created_at + spec.key_rotation_interval]
    moments += [
        key.created_at + spec.key_grace_period
        for key in ring.keys
        if key.state is KeyState.retiring
    ]
    return max(1.0, min((moment - now).total_seconds() for moment in moments))
