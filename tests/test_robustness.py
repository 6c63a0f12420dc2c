"""Bad input is a 4xx JSON error and changes nothing, on every route, never a 500.

Every JSON body gets malformed JSON, the wrong JSON type, each required field missing,
each field of the wrong type, NUL characters, lone surrogates, huge strings and integers,
unknown ids; every path parameter and query parameter gets its own bad values. The
routes and their schemas come from the app, so a new endpoint is covered without editing
this file.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from kefu.main import MAX_BODY
from kefu.schemas import MAX_ID
from tests import routes
from tests.conftest import Persona, World
from tests.routes import Caller, Endpoint, dump, error_shape_problem, fill, non_null, send

HUGE_INT = 2**70

Body = Any
Mutation = tuple[str, Body]


def _nullable(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    schema = routes.resolve(schema, components)
    branches = schema.get("anyOf", schema.get("oneOf", []))
    return any(routes.resolve(b, components).get("type") == "null" for b in branches)


def bad_values(
    name: str, schema: dict[str, Any], components: dict[str, Any], good: Any
) -> Iterator[Mutation]:
    """Values no field of this schema may accept."""
    plain = non_null(schema, components)
    kind = plain.get("type") or ("object" if "properties" in plain else None)
    if not _nullable(schema, components):
        yield "null", None
    if "enum" in plain or "const" in plain:
        yield "not one of the choices", "not-a-choice"
    if kind == "string":
        yield from [("a number", 12345), ("an object", {"x": 1})]
        yield "a NUL character", "a\x00b"
        yield "a lone surrogate", "a\ud800b"
        if "maxLength" in plain:
            yield "maxLength + 1 characters", "x" * (plain["maxLength"] + 1)
        else:  # every text field needs a bound; this finds the ones without
            yield "300 000 characters", "x" * 300_000
        if plain.get("minLength", 0) >= 1:
            yield "only spaces", "   "
        if plain.get("minLength", 0) > 1:
            yield "minLength - 1 characters", "x" * (plain["minLength"] - 1)
        if "pattern" in plain:
            yield "not matching the pattern", "\u2603 no \u2603"
        if plain.get("format") in ("date", "date-time"):
            yield "an impossible date", "2026-13-45"
    elif kind in ("integer", "number"):
        yield from [("text", "abc"), ("an object", {"x": 1}), ("2**70", HUGE_INT), ("NaN", float("nan"))]
        if kind == "integer":
            yield "a fraction", 1.5
        if "minimum" in plain:
            yield "minimum - 1", int(plain["minimum"]) - 1
        if "maximum" in plain:
            yield "maximum + 1", int(plain["maximum"]) + 1
        if routes.is_id_field(name, schema, components):
            yield "an unknown id", MAX_ID
    elif kind == "boolean":
        yield from [("text", "maybe"), ("2", 2)]
    elif kind == "array":
        yield from [("text", "x"), ("a number", 5), ("an object", {"x": 1})]
        items = plain.get("items", {})
        item = good[0] if isinstance(good, list) and good else None
        if "maxItems" in plain and item is not None:
            yield "maxItems + 1 items", [item] * (plain["maxItems"] + 1)
        for what, value in bad_values(name, items, components, item):
            if value is not None or not _nullable(items, components):
                yield f"an item that is {what}", [value]
    elif kind == "object":
        yield from [("text", "x"), ("a number", 5), ("a list", [])]
        yield from (
            (f"{what} in it", value) for what, value in object_mutations(plain, components, good or {})
        )


def object_mutations(
    schema: dict[str, Any], components: dict[str, Any], good: dict[str, Any]
) -> Iterator[Mutation]:
    """``good`` spoiled in one place at a time: a field missing, unknown or bad."""
    for field in schema.get("required", []):
        yield f"{field} missing", {k: v for k, v in good.items() if k != field}
    yield "an unknown field", {**good, "no_such_field": 1}
    for field, sub in schema.get("properties", {}).items():
        for what, value in bad_values(field, sub, components, good.get(field)):
            spoiled = copy.copy(good)
            spoiled[field] = value
            yield f"{field} is {what}", spoiled


RAW_BODIES: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b'{"name": ', "application/json"),
    ("not JSON at all", b"name=x", "application/json"),
    ("an empty body", b"", "application/json"),
    ("a JSON null", b"null", "application/json"),
    ("a JSON number", b"42", "application/json"),
    ("a JSON string", b'"text"', "application/json"),
    ("a JSON array", b"[]", "application/json"),
    ("JSON nested 50 000 deep", b"[" * 50_000 + b"]" * 50_000, "application/json"),
    ("invalid UTF-8", b'{"name": "\xff\xfe"}', "application/json"),
    ("JSON sent as text/plain", b"{}", "text/plain"),
]


async def _actor(world: World, endpoint: Endpoint) -> Persona | httpx.AsyncClient:
    if endpoint.platform_only:
        return await routes.login_operator(world)
    if endpoint.needs_login:
        return world.admin_ada
    return world.client()


async def _requests(world: World) -> AsyncIterator[tuple[Endpoint, list[tuple[str, dict[str, Any]]]]]:
    """Per route, the bad requests to send: (what, keyword arguments of ``send``)."""
    ada = Caller(world, world.admin_ada)
    for endpoint in routes.walked(world.server.app):
        values = await ada.path_values(endpoint)
        url = fill(endpoint.path, values)
        good = await ada.body(endpoint)
        schema = endpoint.body_schema
        bad: list[tuple[str, dict[str, Any]]] = []
        if schema is not None:
            for what, raw, content_type in RAW_BODIES:
                bad.append((what, {"url": url, "raw": raw, "content_type": content_type}))
            bad.append(("the body wrapped in a list", {"url": url, "body": [good]}))
            bad.append((f"{MAX_BODY} bytes and more", {"url": url, "body": {**good, "x": "x" * MAX_BODY}}))
            for what, body in object_mutations(
                non_null(schema, endpoint.components), endpoint.components, good
            ):
                bad.append((what, {"url": url, "body": body}))
        for param in endpoint.path_params:
            for value in ("abc", "0", "-1", str(HUGE_INT), "1.5", "%00", str(MAX_ID)):
                if not routes.VICTIMS[endpoint.prefix_of(param)].tenant_object and value != "%00":
                    continue
                spoiled = fill(endpoint.path, {**values, param: value})
                bad.append((f"{{{param}}} = {value}", {"url": spoiled, "body": good}))
        yield endpoint, bad


async def test_bad_bodies_and_path_ids_are_4xx_json_errors_and_change_nothing(world: World) -> None:
    db = world.server.db
    failures = []
    count = 0
    async for endpoint, bad in _requests(world):
        client = await _actor(world, endpoint)
        before = await dump(db)
        for what, kw in bad:
            headers = {"content-type": kw["content_type"]} if "content_type" in kw else None
            if headers:
                http = client.client if isinstance(client, Persona) else client
                r = await http.request(endpoint.method, kw["url"], content=kw["raw"], headers=headers)
            else:
                r = await send(client, endpoint.method, kw["url"], body=kw.get("body"))
            count += 1
            if problem := error_shape_problem(r):
                failures.append(f"{endpoint} with {what}: {problem}: {r.text[:200]}")
            elif what.startswith(str(MAX_BODY)) and r.status_code != 413:
                failures.append(f"{endpoint} with {what}: {r.status_code}, expected 413")
        after = await dump(db)
        if after != before:
            failures.append(
                f"{endpoint}: bad requests changed the database: {routes.dump_diff(before, after)}"
            )
    assert count > 100
    assert not failures, f"{len(failures)} of {count} bad requests misbehaved:\n" + "\n".join(failures)


QUERY_VALUES = ["abc", "-1", "0", str(HUGE_INT), "1.5", "\x00", "x" * 10_000, "\ud800"]


async def test_bad_query_parameters_are_4xx_json_errors(world: World) -> None:
    ada = Caller(world, world.admin_ada)
    db = world.server.db
    failures = []
    for endpoint in routes.walked(world.server.app):
        if not endpoint.query_params:
            continue
        client = await _actor(world, endpoint)
        url = fill(endpoint.path, await ada.path_values(endpoint))
        body = await ada.body(endpoint)
        before = await dump(db)
        for param in endpoint.query_params:
            for value in QUERY_VALUES:
                query = f"{param['name']}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
                r = await send(client, endpoint.method, f"{url}?{query}", body=body)
                if r.status_code >= 500 or (r.status_code >= 400 and error_shape_problem(r)):
                    failures.append(
                        f"{endpoint}?{param['name']}={value[:20]!r}: {r.status_code} {r.text[:200]}"
                    )
        after = await dump(db)
        if after != before and endpoint.method == "GET":
            failures.append(f"{endpoint}: a GET changed the database: {routes.dump_diff(before, after)}")
    assert not failures, "\n".join(failures)


async def test_a_chunked_body_over_the_limit_is_refused(world: World) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    before = await dump(world.server.db)
    r = await world.admin_ada.client.post(
        "/api/v1/groups", content=chunks(), headers={"content-type": "application/json"}
    )
    assert error_shape_problem(r) is None, r.text
    assert await dump(world.server.db) == before


async def test_unknown_routes_and_methods_are_json_errors(world: World) -> None:
    r = await world.admin_ada.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await world.admin_ada.delete("/api/v1/agents")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = await world.admin_ada.client.request("PUT", "/api/v1/settings", json={})
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _multipart_schema(endpoint: Endpoint) -> dict[str, Any] | None:
    content = endpoint.operation.get("requestBody", {}).get("content", {})
    schema = content.get("multipart/form-data", {}).get("schema")
    return routes.resolve(schema, endpoint.components) if schema else None


def _stored_files(world: World) -> list[str]:
    folder = world.server.settings.uploads_dir
    return sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def test_bad_uploads_are_4xx_json_errors_and_store_nothing(world: World) -> None:
    ada = Caller(world, world.admin_ada)
    db = world.server.db
    failures = []
    checked = 0
    for endpoint in routes.walked(world.server.app):
        schema = _multipart_schema(endpoint)
        if schema is None:
            continue
        checked += 1
        client = await _actor(world, endpoint)
        http = client.client if isinstance(client, Persona) else client
        url = fill(endpoint.path, await ada.path_values(endpoint))
        given = await ada.given(endpoint)
        files = [
            k
            for k, s in schema["properties"].items()
            if "contentMediaType" in s or s.get("format") == "binary"
        ]
        form = {k: str(given.get(k, "x")) for k in schema["properties"] if k not in files}
        field = files[0]
        cases: list[tuple[str, dict[str, Any]]] = [
            ("no body", {}),
            ("a JSON body", {"json": {}}),
            ("no file", {"data": form}),
            ("an empty file", {"data": form, "files": {field: ("a.png", b"", "image/png")}}),
            ("an HTML file", {"data": form, "files": {field: ("a.html", b"<script>", "text/html")}}),
            ("a file without a name", {"data": form, "files": {field: ("", PNG, "image/png")}}),
            (
                "a PNG that is not one",
                {"data": form, "files": {field: ("a.png", b"<svg onload=x>", "image/png")}},
            ),
            (
                "10 MB and more",
                {"data": form, "files": {field: ("a.png", PNG + b"\0" * (10 << 20), "image/png")}},
            ),
        ]
        for name in form:
            for what, value in (
                ("NUL", "a\x00b"),
                ("300 000 characters", "x" * 300_000),
                ("nonsense", "nonsense"),
            ):
                spoiled = {**form, name: value}
                cases.append(
                    (f"{name} is {what}", {"data": spoiled, "files": {field: ("a.png", PNG, "image/png")}})
                )
        before, stored = await dump(db), _stored_files(world)
        for what, kw in cases:
            r = await http.request(endpoint.method, url, **kw)
            if problem := error_shape_problem(r):
                failures.append(f"{endpoint} with {what}: {problem}: {r.text[:200]}")
        if await dump(db) != before or _stored_files(world) != stored:
            failures.append(f"{endpoint}: bad uploads changed the database or stored a file")
    assert checked, "no multipart route found: this test proves nothing"
    assert not failures, "\n".join(failures)
