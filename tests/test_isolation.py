"""Nothing crosses between merchants: every route, called by mallory against Ada's shop.

The routes come from the app itself, so a new endpoint is covered without editing this
file; one whose path names a new kind of object fails until tests/routes.py knows how to
make one (see its VICTIMS). Another merchant's object is "not found", never "forbidden";
a role check inside one's own merchant is 403.
"""

from __future__ import annotations

from typing import Any

from tests import routes
from tests.conftest import Persona, Server, World
from tests.routes import VICTIMS, Caller, Endpoint, dump, fill, send, without_merchant


def _tenant_params(endpoint: Endpoint) -> list[str]:
    return [p for p in endpoint.path_params if VICTIMS[endpoint.prefix_of(p)].tenant_object]


def _logged_in(world: World) -> list[Endpoint]:
    """Routes that act for a logged-in user (login itself and the widget choose no tenant by it)."""
    return [e for e in routes.walked(world.server.app) if e.needs_login]


async def _prepare(world: World, caller: Caller, endpoints: list[Endpoint]) -> None:
    """Create every victim up front, so that the secrets include them all."""
    for endpoint in endpoints:
        await caller.path_values(endpoint)
        await caller.ids_for(endpoint)


def _hint(response: Any) -> str:
    if response.status_code == 422:
        return (
            " — the example body or query was refused; add the field's value to FIELD_EXAMPLES "
            "in tests/routes.py"
        )
    return ""


async def test_every_path_parameter_and_id_field_is_known(server: Server) -> None:
    problems = []
    for endpoint in routes.endpoints(server.app):
        for param in endpoint.path_params:
            key = endpoint.prefix_of(param)
            if key not in VICTIMS:
                problems.append(routes.missing_victim_message(endpoint, key))
        for name in routes.id_field_names(endpoint):
            try:
                routes.id_param_for(name)
            except LookupError as exc:
                problems.append(f"{endpoint}: {exc}")
    assert not problems, "\n".join(sorted(set(problems)))


async def test_mallory_finds_none_of_adas_objects(world: World) -> None:
    ada, mallory = Caller(world, world.admin_ada), Caller(world, world.mallory)
    endpoints = [e for e in _logged_in(world) if _tenant_params(e)]
    await _prepare(world, ada, endpoints)
    db = world.server.db
    secrets = routes.secrets_of(await dump(db), world.admin_ada.merchant_id, world.admin_ada)
    failures = []
    # Removals last, so that mallory's own control objects live through the other calls.
    for endpoint in sorted(endpoints, key=lambda e: e.method == "DELETE"):
        # Control: on her own object the route works for mallory (no 404, body accepted),
        # so that the 404 below means "isolated", not "broken".
        own = await send(
            world.mallory,
            endpoint.method,
            fill(endpoint.path, await mallory.path_values(endpoint)),
            body=await mallory.body(endpoint),
        )
        expected = 403 if endpoint.platform_only else 404
        if own.status_code in (404, 422) and not endpoint.platform_only:
            failures.append(
                f"{endpoint} on mallory's own object: {own.status_code} {own.text[:200]}{_hint(own)}"
            )
        before = without_merchant(await dump(db), world.mallory.merchant_id)
        r = await send(
            world.mallory,
            endpoint.method,
            fill(endpoint.path, await ada.path_values(endpoint)),
            body=await ada.body(endpoint),
        )
        if r.status_code != expected:
            failures.append(
                f"{endpoint} on Ada's object: {r.status_code}, expected {expected}: {r.text[:300]}"
            )
        elif routes.error_shape_problem(r):
            failures.append(f"{endpoint}: {routes.error_shape_problem(r)}")
        if leaks := routes.leaked(r, secrets):
            failures.append(f"{endpoint} on Ada's object leaked {leaks}")
        after = without_merchant(await dump(db), world.mallory.merchant_id)
        if after != before:
            failures.append(f"{endpoint} on Ada's object changed her data: {routes.dump_diff(before, after)}")
    assert not failures, "\n".join(failures)


async def test_mallory_lists_none_of_adas_data(world: World) -> None:
    """Lists, searches, settings, reports: mallory sees her own merchant's, never Ada's."""
    ada = Caller(world, world.admin_ada)
    endpoints = [e for e in _logged_in(world) if not _tenant_params(e)]
    await _prepare(world, ada, endpoints)
    await _prepare(world, ada, [e for e in _logged_in(world) if _tenant_params(e)])
    db = world.server.db
    secrets = routes.secrets_of(await dump(db), world.admin_ada.merchant_id, world.admin_ada)
    failures = []
    for endpoint in endpoints:
        url = fill(endpoint.path, await ada.path_values(endpoint))
        ids = await ada.ids_for(endpoint)
        # Filters by id take Ada's ids: mallory must not get Ada's objects through them.
        params = {q["name"]: ids[q["name"]] for q in endpoint.query_params if q["name"] in ids}
        body = await ada.body(endpoint)
        before = without_merchant(await dump(db), world.mallory.merchant_id)
        r = await send(world.mallory, endpoint.method, url, body=body, params=params)
        if r.status_code >= 500:
            failures.append(f"{endpoint}: {r.status_code} {r.text[:200]}")
        body_ids = [k for k in ids if k not in params]
        if endpoint.method != "GET" and body_ids and r.status_code < 400:
            failures.append(f"{endpoint} accepted Ada's ids in {body_ids}: {r.status_code} {r.text[:200]}")
        if endpoint.method == "GET":
            theirs = await send(world.admin_ada, "GET", url, params=params)
            if shared := routes.item_ids(r) & routes.item_ids(theirs):
                failures.append(f"{endpoint} listed Ada's items {sorted(shared)} to mallory")
        if leaks := routes.leaked(r, secrets):
            failures.append(f"{endpoint} leaked {leaks} to mallory")
        after = without_merchant(await dump(db), world.mallory.merchant_id)
        if after != before:
            failures.append(f"{endpoint} changed Ada's data: {routes.dump_diff(before, after)}")
    assert not failures, "\n".join(failures)


async def test_mallory_cannot_point_her_objects_at_adas(world: World) -> None:
    """Ids in a body (group members, an agent's groups, ...) must be of one's own merchant."""
    ada, mallory = Caller(world, world.admin_ada), Caller(world, world.mallory)
    endpoints = [e for e in _logged_in(world) if _tenant_params(e) and e.body_schema]
    db = world.server.db
    failures = []
    checked = 0
    for endpoint in endpoints:
        ada_ids = await ada.ids_for(endpoint)
        if not ada_ids:
            continue
        own_url = fill(endpoint.path, await mallory.path_values(endpoint))
        given = {**await mallory.given(endpoint), **ada_ids}
        body = await mallory.body(endpoint, given)
        before = without_merchant(await dump(db), world.mallory.merchant_id)
        r = await send(world.mallory, endpoint.method, own_url, body=body)
        checked += 1
        if not 400 <= r.status_code < 500:
            failures.append(f"{endpoint} accepted Ada's ids {ada_ids}: {r.status_code} {r.text[:200]}")
        after = without_merchant(await dump(db), world.mallory.merchant_id)
        if after != before:
            failures.append(f"{endpoint} changed Ada's data: {routes.dump_diff(before, after)}")
    assert checked, "no route takes ids in its body: this test proves nothing"
    assert not failures, "\n".join(failures)


async def _refused_to(world: World, who: list[Persona], endpoints: list[Endpoint]) -> list[str]:
    ada = Caller(world, world.admin_ada)
    db = world.server.db
    failures = []
    for endpoint in endpoints:
        url = fill(endpoint.path, await ada.path_values(endpoint))
        body = await ada.body(endpoint)
        for persona in who:
            before = await dump(db)
            r = await send(persona, endpoint.method, url, body=body)
            if r.status_code != 403:
                failures.append(f"{endpoint} as {persona.username}: {r.status_code}, expected 403")
            elif problem := routes.error_shape_problem(r):
                failures.append(f"{endpoint} as {persona.username}: {problem}")
            after = await dump(db)
            if after != before:
                failures.append(f"{endpoint} as {persona.username} changed {routes.dump_diff(before, after)}")
    return failures


async def test_agents_get_403_from_admin_routes(world: World) -> None:
    endpoints = [e for e in _logged_in(world) if e.admin_only]
    assert endpoints
    failures = await _refused_to(world, [world.agent_alice], endpoints)
    assert not failures, "\n".join(failures)


async def test_merchant_users_get_403_from_platform_routes(world: World) -> None:
    endpoints = [e for e in _logged_in(world) if e.platform_only]
    assert {e.path for e in endpoints} >= {"/api/v1/merchants"}
    who = [world.admin_ada, world.agent_alice, world.mallory]
    failures = await _refused_to(world, who, endpoints)
    assert not failures, "\n".join(failures)


async def test_the_platform_operator_reaches_no_merchants_data(world: World) -> None:
    """The operator creates merchants; agents, groups and settings are the merchants' own."""
    olga = await routes.login_operator(world)
    endpoints = [e for e in _logged_in(world) if not e.platform_only and e.path != "/api/v1/me"]
    failures = await _refused_to(world, [olga], endpoints)
    assert not failures, "\n".join(failures)


async def test_every_route_wants_a_login(world: World) -> None:
    ada = Caller(world, world.admin_ada)
    anonymous = world.client()
    db = world.server.db
    failures = []
    for endpoint in _logged_in(world):
        url = fill(endpoint.path, await ada.path_values(endpoint))
        body = await ada.body(endpoint)
        before = await dump(db)
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            anonymous.headers.update(headers)
            r = await send(anonymous, endpoint.method, url, body=body)
            if r.status_code != 401 or r.json()["error"]["code"] != "not_authenticated":
                failures.append(f"{endpoint} without a login ({headers}): {r.status_code} {r.text[:200]}")
        if await dump(db) != before:
            failures.append(f"{endpoint} without a login changed the database")
    assert not failures, "\n".join(failures)
