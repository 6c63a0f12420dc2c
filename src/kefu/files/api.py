"""POST /api/v1/uploads for staff, and GET /uploads/{merchant}/{name} for everyone."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import FileResponse, Response

from kefu.auth.access import MerchantActor
from kefu.database.session import SessionDep
from kefu.exceptions import NotFound
from kefu.files import service
from kefu.files.actions import do_save_upload
from kefu.files.storage import IMAGE_TYPES, TYPES
from kefu.schemas import MAX_ID

router = APIRouter(tags=["uploads"])
public = APIRouter(include_in_schema=False)
NAME = re.compile(r"^[A-Za-z0-9_-]{10,40}\.[a-z0-9]{2,5}$")
# An upload never changes (a new file gets a new name), so browsers may keep it a day.
CACHE = "private, max-age=86400"


@router.post("/uploads", status_code=201)
async def upload(
    actor: MerchantActor, session: SessionDep, file: Annotated[UploadFile, File()]
) -> dict[str, str]:
    return {"url": await do_save_upload(session, merchant_id=actor.merchant_id, upload=file)}


def _headers(name: str) -> dict[str, str]:
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": CACHE, "ETag": f'"{name}"'}
    if not name.endswith(tuple(IMAGE_TYPES)):
        headers["Content-Disposition"] = "attachment"  # never rendered inside our origin
    return headers


@public.get("/uploads/{merchant_id}/{name}")
async def serve_upload(request: Request, session: SessionDep, merchant_id: int, name: str) -> Response:
    if not NAME.match(name) or not 0 < merchant_id <= MAX_ID:
        raise NotFound("文件", "File")
    headers = _headers(name)
    if request.headers.get("if-none-match") == headers["ETag"]:
        await session.commit()
        return Response(status_code=304, headers=headers)
    found = await service.get(session, merchant_id=merchant_id, name=name)
    await session.commit()
    if found is not None:
        return Response(found.data, media_type=found.content_type, headers=headers)
    # Files uploaded before uploads moved into the database (and not imported by the
    # migration, e.g. through an old server during a rolling upgrade) are still on disk.
    path = request.app.state.settings.uploads_dir / str(merchant_id) / name
    if path.is_file():
        return FileResponse(
            path, media_type=TYPES.get(path.suffix, "application/octet-stream"), headers=headers
        )
    raise NotFound("文件", "File")
