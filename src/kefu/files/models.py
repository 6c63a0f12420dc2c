"""Uploaded images and files, bytes included: any server of a cluster serves any of them."""

from __future__ import annotations

from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.database.base import Base, IntPK, MerchantScoped, Timestamps


class Upload(MerchantScoped, Timestamps, Base):
    """One uploaded file, served at ``/uploads/{merchant_id}/{name}``.

    ``name`` is a random, unguessable key plus the file's suffix: knowing the URL is what
    grants access (the widget and the workspace show images by URL). The bytes stay in the
    database (BLOB on SQLite, bytea on PostgreSQL), so no server needs a shared disk.
    """

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("merchant_id", "name"),)

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
