"""Uploads live in the database: stored once, served by any server with safe headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from kefu.config import Settings
from kefu.database.engine import Database
from kefu.database.migrate import upgrade
from tests.conftest import BACKENDS, World, scratch_postgres
from tests.realtime.client import open_visitor

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n" + b"x" * 3000


async def _staff_upload(world: World, name: str, data: bytes) -> str:
    r = await world.agent_alice.post("/api/v1/uploads", files={"file": (name, data, "application/x-any")})
    assert r.status_code == 201, r.text
    return str(r.json()["url"])


async def _visitor_upload(world: World, name: str, data: bytes) -> str:
    visitor = await open_visitor(world, connect_socket=False)
    r = await world.client().post(
        "/api/v1/widget/uploads", data={"visitor_token": visitor.token}, files={"file": (name, data)}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["url"])


def _files_on_disk(world: World) -> list[Path]:
    folder = world.server.settings.uploads_dir
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def test_an_agents_image_is_stored_in_the_database_and_served_with_cache_headers(world: World) -> None:
    url = await _staff_upload(world, "截图.PNG", PNG)
    merchant_id = world.agent_alice.merchant_id
    assert url.startswith(f"/uploads/{merchant_id}/") and url.endswith(".png")
    assert _files_on_disk(world) == []  # nothing on this server's disk: any server can serve it
    (row,) = await _rows(
        world, "SELECT merchant_id, content_type, size, data FROM uploads WHERE name = :n", url
    )
    assert (row.merchant_id, row.content_type, row.size, bytes(row.data)) == (
        merchant_id,
        "image/png",
        len(PNG),
        PNG,
    )

    anonymous = world.client()  # the widget and <img> tags fetch without a login
    r = await anonymous.get(url)
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "private, max-age=86400"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "content-disposition" not in r.headers  # shown inline in the chat
    etag = r.headers["etag"]
    again = await anonymous.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag


async def test_a_visitors_file_is_served_as_an_attachment_never_inline(world: World) -> None:
    url = await _visitor_upload(world, "发票.pdf", PDF)
    r = await world.client().get(url)
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == "attachment"
    assert r.headers["x-content-type-options"] == "nosniff"
    # A text file, too, is a download: it must not render in the browser as our page.
    url = await _visitor_upload(world, "notes.txt", b"<script>alert(1)</script>")
    r = await world.client().get(url)
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-disposition"] == "attachment"


async def test_an_upload_is_found_only_under_its_merchant_and_exact_name(world: World) -> None:
    url = await _staff_upload(world, "a.png", PNG)
    _, _, ada_id, name = url.split("/")
    mallory_id = world.mallory.merchant_id
    c = world.client()
    for wrong in (
        f"/uploads/{mallory_id}/{name}",  # the name under another merchant
        f"/uploads/{ada_id}/{name[:-4]}x.png",  # a guessed name
        f"/uploads/{ada_id}/..%2F{name}",
        f"/uploads/{ada_id}/{name[:-4]}.pdf",
        f"/uploads/{2**40}/{name}",
        f"/uploads/-1/{name}",
    ):
        r = await c.get(wrong)
        assert r.status_code == 404, wrong
        assert r.json()["error"]["code"] == "not_found", wrong
    # Mallory's own upload is hers: under her merchant, not Ada's.
    r = await world.mallory.post("/api/v1/uploads", files={"file": ("m.png", PNG)})
    assert r.status_code == 201 and r.json()["url"].startswith(f"/uploads/{mallory_id}/")
    assert (await c.get(r.json()["url"].replace(f"/{mallory_id}/", f"/{ada_id}/"))).status_code == 404


async def test_files_uploaded_before_uploads_moved_into_the_database_are_still_served(world: World) -> None:
    merchant_id = world.agent_alice.merchant_id
    name = "OldUpload-0123456789.png"
    folder = world.server.settings.uploads_dir / str(merchant_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(PNG)
    try:
        r = await world.client().get(f"/uploads/{merchant_id}/{name}")
        assert r.status_code == 200 and r.content == PNG
        assert r.headers["content-type"] == "image/png" and r.headers["x-content-type-options"] == "nosniff"
    finally:
        (folder / name).unlink()


async def _rows(world: World, query: str, url: str) -> list[object]:
    async with world.server.db.session() as session:
        rows = (await session.execute(text(query), {"n": url.rsplit("/", 1)[1]})).all()
        await session.commit()
    return list(rows)


# --- the migration imports the files of earlier versions --------------------------------------


@pytest.fixture(params=BACKENDS)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables yet (SQLAlchemy URL)."""
    if request.param == "sqlite":
        yield Settings(database_url=f"sqlite:///{tmp_path / 'old.sqlite3'}", _env_file=None).sqlalchemy_url  # type: ignore[call-arg]
        return
    async with scratch_postgres("kefu_migrate") as url:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def test_upgrading_imports_the_files_earlier_versions_kept_on_disk(
    empty_database: str, tmp_path: Path
) -> None:
    db = Database(empty_database)
    try:
        await upgrade(db.engine, "cb42a594e74d")  # the last version that kept uploads on disk
        async with db.session() as session:
            merchant_id = await session.scalar(
                text(
                    "INSERT INTO merchants (name, widget_key, widget_secret, created_at) "
                    "VALUES ('老店', 'k-old', 's-old', CURRENT_TIMESTAMP) RETURNING id"
                )
            )
            await session.commit()
        uploads = tmp_path / "data" / "uploads"
        (uploads / str(merchant_id)).mkdir(parents=True)
        (uploads / str(merchant_id) / "OldPhoto-abcdefghij.png").write_bytes(PNG)
        (uploads / str(merchant_id) / "OldInvoice-abcdefghij.pdf").write_bytes(PDF)
        (uploads / str(merchant_id) / "stray.tmp").write_bytes(b"x")  # not an upload
        (uploads / "999999").mkdir()  # a merchant that no longer exists
        (uploads / "999999" / "Gone-abcdefghijk.png").write_bytes(PNG)

        await upgrade(db.engine, uploads_dir=uploads)

        async with db.session() as session:
            rows = (
                await session.execute(
                    text("SELECT merchant_id, name, content_type, size, data FROM uploads ORDER BY name")
                )
            ).all()
            await session.commit()
        assert [(r.merchant_id, r.name, r.content_type, r.size, bytes(r.data)) for r in rows] == [
            (merchant_id, "OldInvoice-abcdefghij.pdf", "application/pdf", len(PDF), PDF),
            (merchant_id, "OldPhoto-abcdefghij.png", "image/png", len(PNG), PNG),
        ]
    finally:
        await db.dispose()
