"""Static files: the SPA (with client-side routes falling back to index.html), widget.js,
and the demo shop page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from kefu.database.session import SessionDep
from kefu.web.demo_shop import demo_merchant, render_shop

STATIC = Path(__file__).parent / "static"
APP_DIR = STATIC / "app"
# Vite names every built asset by its content hash, so browsers may keep them for good.
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
MEDIA_TYPES = {".webmanifest": "application/manifest+json", ".js": "text/javascript"}

router = APIRouter(include_in_schema=False)

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>kefu</title>
<p>前端尚未构建，请运行 <code>make demo</code>。</p>
<p>The web UI is not built yet: run <code>make demo</code>.</p>"""


@router.get("/widget.js")
async def widget_js() -> Response:
    path = STATIC / "widget.js"
    if not path.exists():
        return Response("/* widget not built */", media_type="text/javascript", status_code=404)
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/demo/shop")
async def demo_shop(
    session: SessionDep,
    group_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    """A fake shop page with the demo merchant's widget on it."""
    merchant = await demo_merchant(session)
    return HTMLResponse(
        render_shop(merchant, group_id=group_id, lang=lang), headers={"Cache-Control": "no-cache"}
    )


def mount(app: FastAPI) -> None:
    """Add the UI routes last, so that the SPA fallback never hides an API route."""
    app.include_router(router)

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str) -> Response:
        if path.startswith(("api/", "ws/", "uploads/")):
            raise HTTPException(404)
        candidate = (APP_DIR / path).resolve()
        if path and candidate.is_file() and APP_DIR.resolve() in candidate.parents:
            headers = IMMUTABLE if path.startswith("assets/") else {"Cache-Control": "no-cache"}
            return FileResponse(candidate, headers=headers, media_type=MEDIA_TYPES.get(candidate.suffix))
        index = APP_DIR / "index.html"
        if index.exists():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(NOT_BUILT)
