"""The JWT signing keyring: one file, shared by the app (reader) and the operator (writer).

File format (JSON, written atomically)::

    {"version": 1,
     "keys": [{"kid": "...", "alg": "ES256", "state": "next|active|retiring",
               "private_key_pem": "-----BEGIN PRIVATE KEY-----...",
               "created_at": "2026-11-24T11:30:00+00:00"}]}

Lifecycle of a key: ``next`` (published and accepted, not yet signing) → ``active`` (signs;
exactly one) → ``retiring`` (still accepted until every token it signed has expired) →
removed from the file. Because the next key is published before it signs and the old one
is accepted after it stops, a rotation never rejects a valid token.

This module has no dependency on the rest of the app so the operator can import it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

log = logging.getLogger("asoud.keyring")

FORMAT_VERSION = 1
SUPPORTED_ALGORITHMS = ("ES256", "RS256", "EdDSA")

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class KeyState(StrEnum):
    next = "next"
    active = "active"
    retiring = "retiring"


class KeyringError(ValueError):
    """The keyring file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    state: KeyState
    private_key: PrivateKey
    created_at: datetime

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        algorithm = {"ES256": ECAlgorithm, "RS256": RSAAlgorithm, "EdDSA": OKPAlgorithm}[self.alg]
        jwk: dict[str, Any] = algorithm.to_jwk(public, as_dict=True)  # type: ignore[attr-defined]
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def to_dict(self) -> dict[str, Any]:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "kid": self.kid,
            "alg": self.alg,
            "state": self.state.value,
            "private_key_pem": pem,
            "created_at": self.created_at.isoformat(),
        }


VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Keyring:
    keys: tuple[SigningKey, ...]
    # token -> claims of tokens this ring already verified. A signature check costs ~0.13 ms
    # (a fifth of an authenticated request); a client sends the same token for 15 minutes.
    # A reloaded file makes a new Keyring, so a removed key's tokens are never served from here.
    _verified: dict[tuple[str, str, str], dict[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def active(self) -> SigningKey:
        return next(k for k in self.keys if k.state is KeyState.active)

    def find(self, kid: str) -> SigningKey | None:
        return next((k for k in self.keys if k.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.active
        return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid})

    def verify(self, token: str, *, audience: str, issuer: str, leeway: int = 10) -> dict[str, Any]:
        """Decode a token signed by any key still in the ring; raise ``jwt.InvalidTokenError``."""
        cached = self._verified.get((token, audience, issuer))
        if cached is not None:
            if cached["exp"] + leeway <= time.time():
                raise jwt.ExpiredSignatureError("Signature has expired")
            return cached
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = self.find(kid) if isinstance(kid, str) else None
        if key is None:
            raise jwt.InvalidTokenError("unknown kid")
        # Only the key's own algorithm is allowed: refuses "none" and HS256-with-public-key.
        claims: dict[str, Any] = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=[key.alg],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp", "iat", "sub", "sid", "jti"]},
        )
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[(token, audience, issuer)] = claims
        return claims

    def to_json(self) -> str:
        return json.dumps(
            {"version": FORMAT_VERSION, "keys": [k.to_dict() for k in self.keys]}, indent=2
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            document = json.loads(text)
            if document.get("version") != FORMAT_VERSION:
                raise KeyringError(f"unsupported keyring version {document.get('version')!r}")
            keys = tuple(_parse_key(entry) for entry in document["keys"])
        except KeyringError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(f"malformed keyring: {type(exc).__name__}") from None
        ring = cls(keys)
        ring.validate()
        return ring

    def validate(self) -> None:
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise KeyringError("duplicate kid in keyring")
        actives = sum(k.state is KeyState.active for k in self.keys)
        if actives != 1:
            raise KeyringError(f"keyring must have exactly one active key, found {actives}")


def _parse_key(entry: dict[str, Any]) -> SigningKey:
    alg = entry["alg"]
    if alg not in SUPPORTED_ALGORITHMS:
        raise KeyringError(f"unsupported algorithm {alg!r}")
    private_key = serialization.load_pem_private_key(entry["private_key_pem"].encode(), None)
    expected: type[Any] = {
        "ES256": ec.EllipticCurvePrivateKey,
        "RS256": rsa.RSAPrivateKey,
        "EdDSA": ed25519.Ed25519PrivateKey,
    }[alg]
    if not isinstance(private_key, expected):
        raise KeyringError(f"key {entry['kid']!r} does not match algorithm {alg}")
    return SigningKey(
        kid=str(entry["kid"]),
        alg=alg,
        state=KeyState(entry["state"]),
        private_key=private_key,
        created_at=datetime.fromisoformat(entry["created_at"]),
    )


def generate_key(alg: str = "ES256", state: KeyState = KeyState.next) -> SigningKey:
    if alg not in SUPPORTED_ALGORITHMS:
        raise KeyringError(f"unsupported algorithm {alg!r}")
    private_key: PrivateKey
    if alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        private_key = ed25519.Ed25519PrivateKey.generate()
    now = datetime.now(UTC)
    kid = f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    return SigningKey(kid=kid, alg=alg, state=state, private_key=private_key, created_at=now)


def new_keyring(alg: str = "ES256") -> Keyring:
    """A fresh ring: one active key and the next one already published."""
    return Keyring((generate_key(alg, KeyState.active), generate_key(alg, KeyState.next)))


def rotate(ring: Keyring, alg: str | None = None) -> Keyring:
    """One rotation step: drop retiring keys, active → retiring, next → active, add a new next."""
    alg = alg or ring.active.alg
    kept: list[SigningKey] = []
    promoted = False
    for key in ring.keys:
        if key.state is KeyState.active:
            kept.append(replace(key, state=KeyState.retiring))
        elif key.state is KeyState.next and not promoted:
            kept.append(replace(key, state=KeyState.active))
            promoted = True
        elif key.state is KeyState.next:
            kept.append(key)
    if not promoted:
        kept.append(generate_key(alg, KeyState.active))
    kept.append(generate_key(alg, KeyState.next))
    result = Keyring(tuple(kept))
    result.validate()
    return result


def write_keyring(path: Path, ring: Keyring) -> None:
    """Write atomically (temp file + rename) with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keyring-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(ring.to_json())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_keyring(path: Path) -> Keyring:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyringError(f"cannot read keyring {path}: {exc.strerror}") from None
    return Keyring.from_json(text)


class KeyringSource:
    """Serves the current keyring and re-reads the file when it changes.

    Kubernetes updates a mounted Secret by swapping a symlink, so the check compares the
    resolved file's identity (inode, size, mtime); it runs at most once per ``interval``.
    A half-written or invalid file keeps the previous ring in service.
    """

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._checked_at = 0.0
        self._ring = read_keyring(path)
        self._signature = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def get(self) -> Keyring:
        now = time.monotonic()
        if now - self._checked_at < self.interval:
            return self._ring
        with self._lock:
            self._checked_at = now
            signature = self._stat()
            if signature is not None and signature != self._signature:
                try:
                    self._ring = read_keyring(self.path)
                    self._signature = signature
                    log.info("keyring reloaded", extra={"active_kid": self._ring.active.kid})
                except KeyringError as exc:
                    log.warning("keyring reload failed, keeping previous keys: %s", exc)
        return self._ring
