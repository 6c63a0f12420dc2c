"""The lean widget-session route answers exactly as its FastAPI route: same statuses, same
error bodies in the same languages; and the FastAPI route still describes it in OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from starlette.routing import Route

from kefu.auth.security import member_signature
from kefu.database.engine import Database
from kefu.widget.api import open_session_lean
from tests.conftest import World

SESSIONS = "/api/v1/widget/sessions"


@contextmanager
def fastapi_only(app: Any) -> Iterator[None]:
    """The app without its lean route for a while: FastAPI's own route answers."""
    routes = app.router.routes
    [lean] = [r for r in routes if isinstance(r, Route) and r.endpoint is open_session_lean]
    at = routes.index(lean)
    routes.remove(lean)
    try:
        yield
    finally:
        routes.insert(at, lean)


def _answer(r: httpx.Response) -> tuple[int, str | None, Any]:
    return r.status_code, r.headers.get("content-type"), r.json()


def _requests(world: World) -> list[tuple[str, dict[str, Any]]]:
    """Bad (and one returning) session requests as ``(what, httpx.post keywords)``."""
    shop = world.shop["widget_key"]
    signed = {
        "id": "u-1",
        "name": "王",
        "signature": member_signature(world.shop["widget_secret"], "u-1", "王"),
    }
    forged = {**signed, "signature": "0" * 64}
    js = {"content-type": "application/json"}
    en = {"Accept-Language": "en"}
    plain, utf8 = {"content-type": "text/plain"}, "application/json; charset=utf-8"
    return [
        ("unknown key", {"json": {"widget_key": "no-such-key"}}),
        ("unknown key, en", {"json": {"widget_key": "no-such-key"}, "headers": en}),
        ("another merchant's group", {"json": {"widget_key": shop, "group_id": 999_999}}),
        ("forged member", {"json": {"widget_key": shop, "member": forged}, "headers": en}),
        ("signed member", {"json": {"widget_key": shop, "member": signed}}),
        ("no widget key", {"json": {}, "headers": en}),
        ("empty key", {"json": {"widget_key": ""}}),
        ("key too long", {"json": {"widget_key": "k" * 65}, "headers": en}),
        ("unknown field", {"json": {"widget_key": shop, "colour": "red"}}),
        ("group id 0", {"json": {"widget_key": shop, "group_id": 0}}),
        ("group id text", {"json": {"widget_key": shop, "group_id": "two"}, "headers": en}),
        ("huge group id", {"json": {"widget_key": shop, "group_id": 2**40}}),
        ("NUL", {"json": {"widget_key": shop, "nickname": "a\x00b"}}),
        ("member without signature", {"json": {"widget_key": shop, "member": {"id": "u-1"}}}),
        ("a list", {"json": [shop]}),
        ("a string", {"json": shop, "headers": en}),
        ("null", {"json": None}),
        ("bad JSON", {"content": b'{"widget_key": ', "headers": js}),
        ("bad JSON, en", {"content": b"{", "headers": {**js, **en}}),
        ("not UTF-8", {"content": b'{"widget_key": "\xff"}', "headers": js}),
        ("no body", {"content": b"", "headers": js}),
        ("no content type", {"content": json.dumps({"widget_key": shop}).encode()}),
        ("text/plain", {"content": json.dumps({"widget_key": shop}).encode(), "headers": plain}),
        ("+json", {"content": b'{"widget_key": "x"}', "headers": {"content-type": "application/ld+json"}}),
        ("json; charset", {"content": b'{"widget_key": "x"}', "headers": {"content-type": utf8}}),
        ("too large", {"json": {"widget_key": shop, "nickname": "x" * (1 << 20)}}),
    ]  # fmt: skip


async def test_lean_route_answers_bad_requests_as_fastapi_does(world: World) -> None:
    app, c = world.server.app, world.client()
    cases = _requests(world)
    lean = [_answer(await c.post(SESSIONS, **kw)) for _, kw in cases]
    with fastapi_only(app):
        fastapi = [_answer(await c.post(SESSIONS, **kw)) for _, kw in cases]
    for (what, _), mine, theirs in zip(cases, lean, fastapi, strict=True):
        if what == "signed member":  # the same visitor, through both
            assert mine[:2] == theirs[:2] == (200, "application/json")
            assert mine[2]["room"] == theirs[2]["room"]
            continue
        assert mine == theirs, what
        assert mine[0] >= 400 and mine[2]["error"]["code"], what
    # The table covers each kind of answer.
    statuses = {mine[0] for mine in lean}
    assert statuses == {200, 400, 403, 404, 413, 422}
    # Other methods too (GET falls to the web UI's 404 for unknown API paths).
    methods = ("GET", "PUT", "DELETE", "PATCH")
    lean = [_answer(await c.request(m, SESSIONS)) for m in methods]
    with fastapi_only(app):
        assert [_answer(await c.request(m, SESSIONS)) for m in methods] == lean
    assert [status for status, _, _ in lean] == [404, 405, 405, 405]


async def test_lean_route_answers_first_visits_as_fastapi_does(world: World) -> None:
    c = world.client()
    body = {"widget_key": world.shop["widget_key"], "nickname": "小王"}
    lean = await c.post(SESSIONS, json=body)
    with fastapi_only(world.server.app):
        fastapi = await c.post(SESSIONS, json=body)
    assert lean.status_code == fastapi.status_code == 200
    assert lean.headers["content-type"] == fastapi.headers["content-type"] == "application/json"
    mine, theirs = lean.json(), fastapi.json()
    assert mine.keys() == theirs.keys() and mine["room"] != theirs["room"]
    assert {k: v for k, v in mine.items() if k not in ("room", "visitor_token")} == {
        k: v for k, v in theirs.items() if k not in ("room", "visitor_token")
    }


async def test_lean_route_answers_503_as_fastapi_does_while_the_database_is_unreachable(world: World) -> None:
    real, c = world.server.db, world.client()
    if world.server.backend == "sqlite":
        unreachable = Database(f"sqlite+kefu:///{world.server.settings.data_dir}/no/such/dir/kefu.sqlite3")
    else:
        unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:9/kefu")
    body, en = {"widget_key": world.shop["widget_key"]}, {"Accept-Language": "en"}
    reachable, real.sessionmaker = real.sessionmaker, unreachable.sessionmaker
    try:
        lean = [await c.post(SESSIONS, json=body), await c.post(SESSIONS, json=body, headers=en)]
        with fastapi_only(world.server.app):
            fastapi = [await c.post(SESSIONS, json=body), await c.post(SESSIONS, json=body, headers=en)]
    finally:
        real.sessionmaker = reachable
        await unreachable.dispose()
    for mine, theirs in zip(lean, fastapi, strict=True):
        assert _answer(mine) == _answer(theirs) and mine.status_code == 503
        assert mine.headers["retry-after"] == theirs.headers["retry-after"] == "5"


async def test_openapi_still_describes_the_widget_session(world: World) -> None:
    spec = (await world.client().get("/api/openapi.json")).json()
    call = spec["paths"][SESSIONS]["post"]
    assert call["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SessionIn")
    assert call["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SessionOut")
