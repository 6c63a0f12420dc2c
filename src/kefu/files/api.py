"""POST /api/v1/uploads for staff, and GET /uploads/{merchant}/{name} for everyone."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import FileResponse

from kefu.auth.access import MerchantActor
from kefu.exceptions import NotFound
from kefu.files.storage import IMAGE_TYPES, TYPES, save_upload

router = APIRouter(tags=["uploads"])
public = APIRouter(include_in_schema=False)
NAME = re.compile(r"^[A-Za-z0-9_-]{10,40}\.[a-z0-9]{2,5}$")


@router.post("/uploads", status_code=201)
async def upload(
    request: Request, actor: MerchantActor, file: Annotated[UploadFile, File()]
) -> dict[str, str]:
    url = await save_upload(file, request.app.state.settings.uploads_dir, actor.merchant_id)
    return {"url": url}


@public.get("/uploads/{merchant_id}/{name}")
async def serve_upload(request: Request, merchant_id: int, name: str) -> FileResponse:
    path = request.app.state.settings.uploads_dir / str(merchant_id) / name
    if not NAME.match(name) or not path.is_file():
        raise NotFound("文件", "File")
    suffix = path.suffix
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"}
    if suffix not in IMAGE_TYPES:
        headers["Content-Disposition"] = "attachment"
    return FileResponse(path, media_type=TYPES.get(suffix, "application/octet-stream"), headers=headers)
