"""Checking uploads: known types only, size-capped, images that are images, never HTML."""

from __future__ import annotations

from pathlib import Path

from fastapi import UploadFile

from kefu.exceptions import InvalidInput, KefuError

MAX_UPLOAD = 10 << 20
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
FILE_TYPES = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".zip": "application/zip",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".mp4": "video/mp4",
}
TYPES = IMAGE_TYPES | FILE_TYPES
MAGIC = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"RIFF": ".webp"}


class UploadTooLarge(KefuError):
    status_code = 413
    code = "upload_too_large"

    def __init__(self) -> None:
        super().__init__("文件不能超过 10 MB", "Files may be at most 10 MB")


def _suffix(upload: UploadFile, head: bytes) -> str:
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in TYPES:
        raise InvalidInput("不支持的文件类型", "This file type is not allowed", code="file_type_not_allowed")
    if suffix in IMAGE_TYPES and not any(head.startswith(m) for m in MAGIC):
        raise InvalidInput("图片文件已损坏或格式不符", "Not a valid image", code="invalid_image")
    return ".jpg" if suffix == ".jpeg" else suffix


async def read_upload(upload: UploadFile) -> tuple[bytes, str]:
    """The file's bytes and its suffix (``.png``), or a 4xx error when it may not be stored."""
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise UploadTooLarge()
    if not data:
        raise InvalidInput("文件为空", "The file is empty", code="empty_file")
    return data, _suffix(upload, data[:12])
