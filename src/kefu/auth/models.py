"""Login tokens and failed-login bookkeeping."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.database.base import Base, IntPK, Timestamps


class AuthToken(Timestamps, Base):
    """A login: the token's SHA-256 (never the token), its lifetime and its revocation."""

    __tablename__ = "auth_tokens"

    id: Mapped[IntPK]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    remember: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class LoginFailure(Base):
    __tablename__ = "login_failures"

    id: Mapped[IntPK]
    username: Mapped[str] = mapped_column(String(64), index=True)
    failed_at: Mapped[datetime] = mapped_column(index=True)


class LoginLockout(Base):
    __tablename__ = "login_lockouts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column()
