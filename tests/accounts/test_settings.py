"""/api/v1/settings: each merchant's time zone, timers, routing and business hours."""

from __future__ import annotations

from typing import Any

from tests.conftest import World

SETTINGS = "/api/v1/settings"
DEFAULTS = {
    "timezone": "Asia/Shanghai",
    "auto_close_seconds": 360,
    "grace_seconds": 60,
    "routing_strategy": "least_loaded",
    "typing_preview": True,
}


async def test_defaults_are_the_protocols_and_everyone_reads_them(world: World) -> None:
    for persona in (world.admin_ada, world.agent_alice):
        r = await persona.get(SETTINGS)
        assert r.status_code == 200
        body = r.json()
        assert {k: body[k] for k in DEFAULTS} == DEFAULTS
        assert set(body["business_hours"]) == {"enabled", "days", "start", "end"}
        assert body["business_hours"]["enabled"] is False


async def test_admin_changes_only_what_is_sent(world: World) -> None:
    hours = {"enabled": True, "days": [5, 1, 2, 2], "start": "08:30", "end": "22:00"}
    r = await world.admin_ada.patch(
        SETTINGS,
        json={"timezone": "America/New_York", "routing_strategy": "round_robin", "business_hours": hours},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["timezone"] == "America/New_York" and body["routing_strategy"] == "round_robin"
    assert body["business_hours"] == {"enabled": True, "days": [1, 2, 5], "start": "08:30", "end": "22:00"}
    assert body["auto_close_seconds"] == 360
    r = await world.admin_ada.patch(SETTINGS, json={"auto_close_seconds": 600, "timezone": None})
    assert r.json()["auto_close_seconds"] == 600 and r.json()["timezone"] == "America/New_York"
    assert (await world.agent_alice.get(SETTINGS)).json() == r.json()
    # Another merchant's settings are untouched.
    assert (await world.mallory.get(SETTINGS)).json()["timezone"] == "Asia/Shanghai"


async def test_agents_cannot_change_settings(world: World) -> None:
    r = await world.agent_alice.patch(SETTINGS, json={"typing_preview": False})
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert (await world.admin_ada.get(SETTINGS)).json()["typing_preview"] is True


BAD: list[tuple[dict[str, Any], str]] = [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"timezone": "/etc/localtime"}, "timezone"),
    ({"timezone": "asia/shanghai"}, "timezone"),
    ({"timezone": 8}, "timezone"),
    ({"auto_close_seconds": 9}, "auto_close_seconds"),
    ({"auto_close_seconds": 86_401}, "auto_close_seconds"),
    ({"grace_seconds": -1}, "grace_seconds"),
    ({"grace_seconds": 3_601}, "grace_seconds"),
    ({"routing_strategy": "random"}, "routing_strategy"),
    ({"typing_preview": "sometimes"}, "typing_preview"),
    ({"business_hours": {"days": [0]}}, "business_hours"),
    ({"business_hours": {"days": [8]}}, "business_hours"),
    ({"business_hours": {"days": [1, 2, 3, 4, 5, 6, 7, 1]}}, "business_hours"),
    ({"business_hours": {"start": "24:00"}}, "business_hours"),
    ({"business_hours": {"start": "9:00"}}, "business_hours"),
    ({"business_hours": {"end": "18:60"}}, "business_hours"),
    ({"business_hours": {"start": "18:00", "end": "09:00"}}, "business_hours"),
    ({"business_hours": {"start": "10:00", "end": "10:00"}}, "business_hours"),
    ({"business_hours": {"enabled": True, "open": "always"}}, "business_hours"),
    ({"business_hours": "9-18"}, "business_hours"),
    ({"language": "en"}, "language"),
]


async def test_bad_values_are_refused_with_the_field_named(world: World) -> None:
    before = (await world.admin_ada.get(SETTINGS)).json()
    for patch, field in BAD:
        r = await world.admin_ada.patch(SETTINGS, json=patch, headers={"Accept-Language": "en"})
        assert r.status_code == 422, patch
        error = r.json()["error"]
        assert error["code"] == "invalid_input" and field in error["message"], (patch, error)
    assert (await world.admin_ada.get(SETTINGS)).json() == before


async def test_utc_and_other_real_zones_are_accepted(world: World) -> None:
    for zone in ("UTC", "Europe/Berlin", "Asia/Hong_Kong", "  Asia/Tokyo  "):
        r = await world.admin_ada.patch(SETTINGS, json={"timezone": zone})
        assert r.status_code == 200 and r.json()["timezone"] == zone.strip(), zone
