"""Password hashing (argon2), opaque login tokens, and HMAC-signed visitor tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# KEFU_FAST_HASHES=1 (the test suite) trades hash strength for speed; never set it in production.
_hasher = (
    PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    if os.environ.get("KEFU_FAST_HASHES") == "1"
    else PasswordHasher()
)
# A real hash to verify against when the user does not exist, so timing tells nothing.
_DUMMY_HASH = _hasher.hash("kefu-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; always spends the same work, even without a hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, payload: dict[str, Any], purpose: str) -> str:
    """A compact ``payload.signature`` token; ``purpose`` keeps token kinds apart."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), f"{purpose}:{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(secret: str, token: str, purpose: str) -> dict[str, Any] | None:
    """The payload of a token made by :func:`sign`, or None when it is forged or malformed."""
    try:
        body, mac = token.split(".", 1)
        expected = hmac.new(secret.encode(), f"{purpose}:{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def member_signature(widget_secret: str, member_id: str, name: str) -> str:
    """What a merchant's site sends to vouch for a member: hex HMAC-SHA256 of ``id:name``."""
    return hmac.new(widget_secret.encode(), f"{member_id}:{name}".encode(), hashlib.sha256).hexdigest()
