"""Visitor tokens: signed, scoped to one merchant, naming one visitor."""

from __future__ import annotations

from dataclasses import dataclass

from kefu.auth.security import sign, unsign

PURPOSE = "visitor"


@dataclass(frozen=True, slots=True)
class VisitorClaim:
    merchant_id: int
    visitor_id: int
    key: str


def make_visitor_token(secret: str, *, merchant_id: int, visitor_id: int, key: str) -> str:
    return sign(secret, {"m": merchant_id, "v": visitor_id, "k": key}, PURPOSE)


def read_visitor_token(secret: str, token: str | None) -> VisitorClaim | None:
    """What a genuine token claims, or None for a forged, foreign or malformed one."""
    if not token or len(token) > 500:
        return None
    payload = unsign(secret, token, PURPOSE)
    if payload is None:
        return None
    m, v, k = payload.get("m"), payload.get("v"), payload.get("k")
    if not isinstance(m, int) or not isinstance(v, int) or not isinstance(k, str):
        return None
    return VisitorClaim(m, v, k)
