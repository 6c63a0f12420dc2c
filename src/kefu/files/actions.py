"""Storing an upload: checked, then its bytes in one row under a random name."""

from __future__ import annotations

import secrets

from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.files.models import Upload
from kefu.files.storage import TYPES, read_upload


def upload_url(merchant_id: int, name: str) -> str:
    return f"/uploads/{merchant_id}/{name}"


async def do_save_upload(session: AsyncSession, *, merchant_id: int, upload: UploadFile) -> str:
    """Store the file for the merchant; its URL (``/uploads/{merchant}/{name}``)."""
    data, suffix = await read_upload(upload)
    name = secrets.token_urlsafe(16) + suffix  # 128 random bits: the URL is the capability
    session.add(
        Upload(merchant_id=merchant_id, name=name, content_type=TYPES[suffix], size=len(data), data=data)
    )
    await session.commit()
    return upload_url(merchant_id, name)
