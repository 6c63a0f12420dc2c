"""The HTTP API as data, for the tests that walk every route: isolation and robustness.

Adding an endpoint whose path has a new parameter (``/api/v1/tickets/{ticket_id}``)?
Register in ``VICTIMS`` how to create such an object for a merchant; until you do, the
walking tests fail and say so. Body fields named ``<thing>_id`` / ``<thing>_ids`` are filled
with the victim of the path parameter of the same name (``group_ids`` → ``{group_id}``);
name other ones in ``ID_FIELDS``, and ones whose kind depends on the route (a reply's and an
article's ``category_id``) in ``SCOPED_ID_FIELDS``. Example values for fields the generator cannot guess
(a time zone, a URL) go in ``FIELD_EXAMPLES``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select

from kefu.auth.access import admin_actor, current_actor, platform_actor
from kefu.database.models import Base
from tests.conftest import PASSWORD, Persona, World

API = "/api/v1"
PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?}")
_serial = itertools.count(1)


def marker(owner: Persona) -> str:
    """Text put into every victim object, so that a leak of it is easy to spot."""
    return f"merchant#{owner.merchant_id}#"


def unique(prefix: str = "v") -> str:
    return f"{prefix}{next(_serial)}"


# --- victims: how to create an object of each kind for a merchant --------------------------

VictimFactory = Callable[[World, Persona], Awaitable[Any]]


@dataclass(frozen=True)
class Victim:
    """How to make the object a path parameter names, owned by ``owner`` (an admin)."""

    create: VictimFactory
    # False when the value names something every merchant has (a report's name): the
    # route then must answer with the caller's own data instead of "not found".
    tenant_object: bool = True


async def _ok(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, f"victim factory failed: {response.status_code} {response.text}"
    return response.json()


def merchant_of(world: World, owner: Persona) -> dict[str, Any]:
    """The merchant as created (with its widget key and secret) that ``owner`` belongs to."""
    return world.shop if owner.merchant_id == world.shop["merchant_id"] else world.other


async def make_group(world: World, owner: Persona) -> int:
    """A group with one member, named with the owner's marker."""
    agents = await _ok(await owner.get(f"{API}/agents", params={"limit": 1}), 200)
    body = {"name": f"group {unique()} {marker(owner)}", "agent_ids": [agents["items"][0]["id"]]}
    return int((await _ok(await owner.post(f"{API}/groups", json=body)))["id"])


async def make_agent(world: World, owner: Persona) -> int:
    """An agent in a fresh group, named with the owner's marker."""
    group_id = await make_group(world, owner)
    body = {
        "username": unique("victim_"),
        "password": PASSWORD,
        "nickname": f"agent {marker(owner)}",
        "group_ids": [group_id],
    }
    return int((await _ok(await owner.post(f"{API}/agents", json=body)))["id"])


async def make_visitor_token(world: World, owner: Persona) -> str:
    """A new visitor on the owner's site (through the widget); their token."""
    body = {"widget_key": merchant_of(world, owner)["widget_key"], "nickname": f"visitor {marker(owner)}"}
    session = await _ok(await world.client().post(f"{API}/widget/sessions", json=body), 200)
    return str(session["visitor_token"])


async def make_visitor(world: World, owner: Persona) -> int:
    from kefu.auth.visitor import read_visitor_token

    claim = read_visitor_token(world.server.app.state.secret_key, await make_visitor_token(world, owner))
    assert claim is not None
    return claim.visitor_id


async def make_conversation(world: World, owner: Persona) -> int:
    """A queued conversation of a new visitor (whose nickname carries the marker)."""
    from kefu.conversations.actions import do_start_conversation
    from kefu.conversations.models import Visitor

    visitor_id = await make_visitor(world, owner)
    async with world.server.db.session() as session:
        visitor = await session.get(Visitor, visitor_id)
        assert visitor is not None
        hub = world.server.app.state.hub
        conversation = await do_start_conversation(session, hub, visitor=visitor, group_id=None)
        return conversation.id


async def make_offline_message(world: World, owner: Persona) -> int:
    body = {
        "visitor_token": await make_visitor_token(world, owner),
        "content": f"please call me back {marker(owner)}",
        "contact": "13800000000",
    }
    return int((await _ok(await world.client().post(f"{API}/widget/offline-messages", json=body)))["id"])


async def make_summary_category(world: World, owner: Persona) -> int:
    body = {"name": f"category {unique()} {marker(owner)}"}
    return int((await _ok(await owner.post(f"{API}/summary-categories", json=body)))["id"])


async def make_canned_category(world: World, owner: Persona) -> int:
    body = {"name": f"c{unique()} {marker(owner)}"[:32]}
    return int((await _ok(await owner.post(f"{API}/canned-reply-categories", json=body)))["id"])


async def make_canned_reply(world: World, owner: Persona) -> int:
    """A shared reply (the owner is an admin) in a fresh category."""
    body = {
        "category_id": await make_canned_category(world, owner),
        "title": f"reply {marker(owner)}",
        "shortcut": unique("s"),
        "content": f"亲，今天下单明天发货 {marker(owner)}",
    }
    return int((await _ok(await owner.post(f"{API}/canned-replies", json=body)))["id"])


async def make_kb_category(world: World, owner: Persona) -> int:
    body = {"name": f"k{unique()} {marker(owner)}"[:32]}
    return int((await _ok(await owner.post(f"{API}/kb/categories", json=body)))["id"])


async def make_kb_article(world: World, owner: Persona) -> int:
    body = {
        "category_id": await make_kb_category(world, owner),
        "question": f"可以退货吗 {unique()} {marker(owner)}",
        "keywords": ["退货"],
        "answer": f"七天无理由退货 {marker(owner)}",
    }
    return int((await _ok(await owner.post(f"{API}/kb/articles", json=body)))["id"])


# Keyed by the path up to and including the parameter, so that nested routes
# (/conversations/{conversation_id}/messages) share their parent's entry.
VICTIMS: dict[str, Victim] = {
    f"{API}/agents/{{agent_id}}": Victim(make_agent),
    f"{API}/groups/{{group_id}}": Victim(make_group),
    f"{API}/conversations/{{conversation_id}}": Victim(make_conversation),
    f"{API}/offline-messages/{{offline_message_id}}": Victim(make_offline_message),
    f"{API}/summary-categories/{{category_id}}": Victim(make_summary_category),
    f"{API}/canned-reply-categories/{{category_id}}": Victim(make_canned_category),
    f"{API}/canned-replies/{{reply_id}}": Victim(make_canned_reply),
    f"{API}/kb/categories/{{category_id}}": Victim(make_kb_category),
    f"{API}/kb/articles/{{article_id}}": Victim(make_kb_article),
    # No route of its own (yet); filters like ?visitor_id= take it.
    f"{API}/visitors/{{visitor_id}}": Victim(make_visitor),
}

# Body and query fields holding ids of other objects whose name does not say which one:
# field name → the path parameter whose victim they take. ``None``: not a tenant object.
ID_FIELDS: dict[str, str | None] = {
    "assignee_id": "agent_id",
    "to_agent_id": "agent_id",
}

# Id fields of some routes that name a kind other than the first one with that path
# parameter in VICTIMS: (path prefix of the route, field) → the VICTIMS key of their kind.
SCOPED_ID_FIELDS: dict[tuple[str, str], str] = {
    (f"{API}/canned-replies", "category_id"): f"{API}/canned-reply-categories/{{category_id}}",
    (f"{API}/kb/", "category_id"): f"{API}/kb/categories/{{category_id}}",
}


def victim_key_for(endpoint: Endpoint, name: str) -> str | None:
    """The VICTIMS key of the kind an id field of ``endpoint`` refers to (None: no tenant object)."""
    for (prefix, field_name), key in SCOPED_ID_FIELDS.items():
        if field_name == name and endpoint.path.startswith(prefix):
            return key
    param = id_param_for(name)
    if param is None:
        return None
    return next(k for k in VICTIMS if PARAM.findall(k)[-1] == param)


async def _widget_key(world: World, owner: Persona) -> str:
    return str(merchant_of(world, owner)["widget_key"])


async def _member(world: World, owner: Persona) -> dict[str, str]:
    from kefu.auth.security import member_signature

    member_id, name = unique("member-"), "Member M"
    secret = merchant_of(world, owner)["widget_secret"]
    return {"id": member_id, "name": name, "signature": member_signature(secret, member_id, name)}


# Values for body fields the generator cannot make up: constants, or async functions of
# (world, owner) for values that belong to the owner's merchant.
FIELD_EXAMPLES: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "avatar_url": "https://example.com/avatar.png",
    "page_url": "https://shop.example.com/item/1",
    "widget_key": _widget_key,
    "visitor_token": make_visitor_token,
    "member": _member,
}

# Routes the walking tests leave alone, with the reason.
NOT_WALKED: dict[tuple[str, str], str] = {
    ("POST", f"{API}/auth/logout"): "ends the caller's own session; tests/auth covers it",
}


# --- routes ----------------------------------------------------------------------------------


@dataclass
class Endpoint:
    method: str
    path: str
    route: APIRoute
    operation: dict[str, Any]
    components: dict[str, Any] = field(repr=False)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return PARAM.findall(self.path)

    def prefix_of(self, param: str) -> str:
        """The path up to and including ``{param}``: the key into VICTIMS."""
        match = next(m for m in PARAM.finditer(self.path) if m.group(1) == param)
        return self.path[: match.end()]

    @property
    def query_params(self) -> list[dict[str, Any]]:
        return [p for p in self.operation.get("parameters", []) if p["in"] == "query"]

    @property
    def body_schema(self) -> dict[str, Any] | None:
        """The JSON body's schema (refs resolved at the top), or None without a JSON body."""
        content = self.operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return resolve(schema, self.components) if schema else None

    @property
    def body_required(self) -> bool:
        return bool(self.operation.get("requestBody", {}).get("required"))

    def _depends_on(self, dependency: Callable[..., Any]) -> bool:
        stack = [self.route.dependant]
        while stack:
            dep = stack.pop()
            if dep.call is dependency:
                return True
            stack.extend(dep.dependencies)
        return False

    @property
    def needs_login(self) -> bool:
        return self._depends_on(current_actor)

    @property
    def admin_only(self) -> bool:
        return self._depends_on(admin_actor)

    @property
    def platform_only(self) -> bool:
        return self._depends_on(platform_actor)


def _api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, whether routers are flattened or nested."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before routers were included lazily
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path, route
        return
    for context in iter_route_contexts(app.routes):
        if isinstance(context.route, APIRoute) and context.path:
            yield context.path, context.route


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every HTTP method of every route under /api/v1 (WebSocket routes are not HTTP)."""
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    found = []
    for path, route in _api_routes(app):
        if not path.startswith(f"{API}/"):
            continue
        for method in sorted(route.methods or ()):
            if method in ("HEAD", "OPTIONS"):
                continue
            operation = spec["paths"].get(path, {}).get(method.lower(), {})
            found.append(Endpoint(method, path, route, operation, components))
    assert found, "no routes under /api/v1: the walking tests would prove nothing"
    return found


def known(endpoint: Endpoint) -> bool:
    """Whether every path parameter has a victim and every id field a meaning."""
    if any(endpoint.prefix_of(p) not in VICTIMS for p in endpoint.path_params):
        return False
    try:
        for name in id_field_names(endpoint):
            id_param_for(name)
    except LookupError:
        return False
    return True


def walked(app: FastAPI) -> list[Endpoint]:
    """The routes the walking tests call: all but NOT_WALKED and those tests/routes.py does
    not know yet (test_isolation.py::test_every_path_parameter_and_id_field_is_known fails
    for those)."""
    return [e for e in endpoints(app) if (e.method, e.path) not in NOT_WALKED and known(e)]


def id_field_names(endpoint: Endpoint) -> list[str]:
    """Query parameters and body fields (at any depth) that hold ids of other objects."""
    components = endpoint.components
    names = [q["name"] for q in endpoint.query_params if is_id_field(q["name"], q["schema"], components)]
    body = endpoint.body_schema
    if body:
        names += [k for k, s in _walk_properties(body, components) if is_id_field(k, s, components)]
    return names


# --- schemas and example values ----------------------------------------------------------


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def non_null(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The schema without its ``| None``: the first non-null branch of an anyOf."""
    schema = resolve(schema, components)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [resolve(s, components) for s in schema[key]]
            useful = [s for s in branches if s.get("type") != "null"]
            return useful[0] if useful else branches[0]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return resolve(schema["allOf"][0], components)
    return schema


def is_id_field(name: str, schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """An integer (or list of integers) named like a reference to another object."""
    if not re.search(r"_ids?$", name):
        return False
    schema = non_null(schema, components)
    if schema.get("type") == "array":
        schema = non_null(schema.get("items", {}), components)
    return schema.get("type") == "integer"


def id_param_for(name: str, victims: dict[str, Victim] | None = None) -> str | None:
    """The path parameter whose victim an id field takes: ``group_ids`` → ``group_id``."""
    if name in ID_FIELDS:
        return ID_FIELDS[name]
    singular = name[:-1] if name.endswith("_ids") else name
    params = {PARAM.findall(key)[-1] for key in (victims or VICTIMS)}
    candidates = [p for p in params if singular == p or singular.endswith(f"_{p}")]
    if len(candidates) != 1:
        raise LookupError(
            f"id field {name!r}: cannot tell which object it refers to (candidates: {candidates}); "
            "map it to a path parameter in ID_FIELDS in tests/routes.py"
        )
    return candidates[0]


_STRING_CANDIDATES = ["example", "v_example", "example.user", "09:00", "2026-01-01", "ex"]


def example_string(schema: dict[str, Any]) -> str:
    lo, hi = schema.get("minLength", 0), schema.get("maxLength", 1000)
    fmt = schema.get("format")
    if fmt == "date":
        return "2026-01-01"
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt in ("uri", "url"):
        return "https://example.com/x"
    if fmt == "email":
        return "someone@example.com"
    pattern = schema.get("pattern")
    for candidate in [unique("example_"), *_STRING_CANDIDATES]:
        value = candidate.ljust(lo, "x")[:hi]
        if not pattern or re.search(pattern, value):
            return value
    raise LookupError(f"cannot make a string matching {pattern!r}: add it to FIELD_EXAMPLES")


def example(schema: dict[str, Any], components: dict[str, Any], given: dict[str, Any], name: str = "") -> Any:
    """A valid value for ``schema``; id fields and FIELD_EXAMPLES take their value from ``given``."""
    if name and is_id_field(name, schema, components):
        value = given[name]
        plain = non_null(schema, components)
        return [value] if plain.get("type") == "array" else value
    if name in given:
        return given[name]
    if name in FIELD_EXAMPLES:
        return FIELD_EXAMPLES[name]
    original = resolve(schema, components)
    if original.get("default") is not None:
        return original["default"]
    schema = non_null(original, components)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            key: example(sub, components, given, key) for key, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        item = schema.get("items", {})
        return [example(item, components, given) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "string":
        return example_string(schema)
    if kind == "integer":
        return int(max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    return None


# --- calling ----------------------------------------------------------------------------------


@dataclass
class Caller:
    """Resolves path parameters and id fields to victims owned by one merchant's admin."""

    world: World
    owner: Persona
    victims: dict[str, Any] = field(default_factory=dict)

    async def victim(self, key: str) -> Any:
        if key not in self.victims:
            made = await VICTIMS[key].create(self.world, self.owner)
            self.victims[key] = made
        return self.victims[key]

    async def path_values(self, endpoint: Endpoint) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for param in endpoint.path_params:
            key = endpoint.prefix_of(param)
            if key not in VICTIMS:
                raise LookupError(missing_victim_message(endpoint, key))
            made = await self.victim(key)
            if isinstance(made, dict):
                values.update(made)
            else:
                values[param] = made
        return values

    async def ids_for(self, endpoint: Endpoint) -> dict[str, Any]:
        """A victim id for every id field of the body and query (looked up up front)."""
        ids = {}
        for name in id_field_names(endpoint):
            key = victim_key_for(endpoint, name)
            if key is None:
                ids[name] = 1
                continue
            made = await self.victim(key)
            ids[name] = made[PARAM.findall(key)[-1]] if isinstance(made, dict) else made
        return ids

    async def given(self, endpoint: Endpoint) -> dict[str, Any]:
        """Victim ids for the id fields, and the owner's values for dynamic FIELD_EXAMPLES."""
        given = await self.ids_for(endpoint)
        schema = endpoint.body_schema
        for name, _ in _walk_properties(schema, endpoint.components) if schema else ():
            if callable(FIELD_EXAMPLES.get(name)) and name not in given:
                given[name] = await FIELD_EXAMPLES[name](self.world, self.owner)
        return given

    async def body(self, endpoint: Endpoint, given: dict[str, Any] | None = None) -> Any:
        """A valid body in the owner's terms, or None when the route takes no JSON body."""
        schema = endpoint.body_schema
        if schema is None:
            return None
        return example(schema, endpoint.components, given or await self.given(endpoint))


def _walk_properties(schema: dict[str, Any], components: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    schema = non_null(schema, components)
    for key, sub in schema.get("properties", {}).items():
        yield key, sub
        plain = non_null(sub, components)
        if plain.get("type") == "object" or "properties" in plain:
            yield from _walk_properties(plain, components)


def missing_victim_message(endpoint: Endpoint, key: str) -> str:
    return (
        f"{endpoint}: no victim factory for {key!r}. Add an entry to VICTIMS in tests/routes.py: "
        "an async function (world, owner) that creates such an object as `owner` and returns "
        "its id, so that the isolation and robustness tests can cover this route."
    )


def fill(path: str, values: dict[str, Any]) -> str:
    return PARAM.sub(lambda m: str(values[m.group(1)]), path)


async def send(
    client: httpx.AsyncClient | Persona,
    method: str,
    url: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    """One request; ``body`` is sent as JSON with every non-ASCII character escaped."""
    http = client.client if isinstance(client, Persona) else client
    headers = {}
    content = raw
    if body is not None and raw is None:
        content = json.dumps(body, ensure_ascii=True).encode()
    if content is not None:
        headers["content-type"] = "application/json"
    return await http.request(method, url, content=content, params=params, headers=headers)


def error_shape_problem(response: httpx.Response) -> str | None:
    """Why the response is not a 4xx ``{"error": {"code", "message"}}``, or None."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}"
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"body is not an error object: {response.text[:200]!r}"
    code, message = error.get("code"), error.get("message")
    if not (isinstance(code, str) and re.fullmatch(r"[a-z][a-z0-9_]*", code)):
        return f"error.code {code!r} is not snake_case"
    if not (isinstance(message, str) and message):
        return "error.message is empty"
    return None


# --- the database, before and after ------------------------------------------------------------


Dump = dict[str, list[dict[str, Any]]]

# Tables no request changes but background loops do, left out of the before/after dumps.
UNWATCHED_TABLES = {
    "servers": "each app server's heartbeat, written by its timer loop",
}


async def dump(db: Any) -> Dump:
    """Every row of every table, in a stable order."""
    out: Dump = {}
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in UNWATCHED_TABLES:
                continue
            rows = (await session.execute(select(table))).mappings().all()
            out[table.name] = sorted((dict(r) for r in rows), key=lambda r: repr(sorted(r.items())))
    return out


def without_merchant(data: Dump, merchant_id: int) -> Dump:
    """The rows not owned by ``merchant_id``: neither its own nor hanging off one of its rows."""
    referenced = {
        (fk.column.table.name, fk.column.name)
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
    }
    owned: dict[tuple[str, str], set[Any]] = {}
    kept: Dump = {}
    for table in Base.metadata.sorted_tables:
        mine, others = [], []
        fks = [(c.name, fk.column.table.name, fk.column.name) for c in table.columns for fk in c.foreign_keys]
        for row in data.get(table.name, []):
            is_mine = (
                (table.name == "merchants" and row.get("id") == merchant_id)
                or row.get("merchant_id") == merchant_id
                or any(row.get(col) in owned.get((t, c), ()) for col, t, c in fks)
            )
            (mine if is_mine else others).append(row)
        kept[table.name] = others
        for t, c in referenced:
            if t == table.name:
                owned[(t, c)] = {row[c] for row in mine}
    return kept


def dump_diff(before: Dump, after: Dump) -> str:
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, []), after.get(name, [])
        if old != new:
            gone = [r for r in old if r not in new][:3]
            added = [r for r in new if r not in old][:3]
            lines.append(f"table {name}: {len(old)} → {len(new)} rows; gone {gone}; new {added}")
    return "; ".join(lines)


def secrets_of(data: Dump, merchant_id: int, owner: Persona) -> set[str]:
    """Texts only this merchant has: names, keys, and every value carrying its marker."""
    found: set[str] = set()
    for rows in data.values():
        for row in rows:
            for value in row.values():
                if isinstance(value, str) and marker(owner) in value:
                    found.add(value)
    for row in data.get("merchants", []):
        if row["id"] == merchant_id:
            found.update((row["name"], row["widget_key"], row["widget_secret"]))
    for row in data.get("users", []):
        if row["merchant_id"] == merchant_id:
            found.add(row["username"])
    return found


def leaked(response: httpx.Response, secrets: set[str]) -> list[str]:
    text = response.text
    as_json = json.dumps(response.json(), ensure_ascii=True) if _is_json(response) else ""
    return sorted(s for s in secrets if s in text or json.dumps(s, ensure_ascii=True)[1:-1] in as_json)


def _is_json(response: httpx.Response) -> bool:
    if "json" not in response.headers.get("content-type", ""):
        return False
    try:
        response.json()
    except ValueError:
        return False
    return True


def item_ids(response: httpx.Response) -> set[Any]:
    """The ids of a list answer's items (``{"items": [{"id": …}]}``)."""
    if response.status_code != 200 or not _is_json(response):
        return set()
    body = response.json()
    items = body.get("items") if isinstance(body, dict) else body if isinstance(body, list) else None
    return {item.get("id") for item in items or [] if isinstance(item, dict)} - {None}


# --- the platform operator ------------------------------------------------------------------


async def login_operator(world: World, username: str = "operator_olga") -> Persona:
    """The platform operator, created on first use (no HTTP endpoint creates one)."""
    from kefu.accounts.actions import do_create_operator
    from kefu.auth.service import get_user_by_username

    async with world.server.db.session() as session:
        if await get_user_by_username(session, username=username) is None:
            await do_create_operator(session, username=username, password=PASSWORD)
    return await world.login(username)
