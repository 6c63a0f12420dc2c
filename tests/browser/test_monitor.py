"""The admin's group monitor updates live: a visitor starts waiting and is accepted while
the admin watches, without a reload."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Browsers, Demo, Shots, close_and_clear, open_widget, set_status


def _visitor_in(browsers: Browsers, demo: Demo, group_id: int) -> Any:
    page = browsers.visitor(f"{demo.url}/demo/shop?group_id={group_id}")
    open_widget(page)
    return page


def test_the_group_monitor_follows_the_queue_live(browsers: Browsers, demo: Demo, shots: Shots) -> None:
    demo.wait_all_away()
    groups = {g["name"]: g["id"] for g in demo.api("GET", "/groups")["items"]}
    presale, after_sales = groups["售前"], groups["售后"]
    alice = browsers.agent("alice", status="busy")  # 售前; busy: takes visitors by hand only
    bob = browsers.agent("bob", status="online")  # 售前 and 售后

    admin = browsers.agent("admin", status=None)
    admin.click("[data-test=nav-admin]")
    admin.click("[data-test=admin-nav-monitor]")
    expect(admin.locator("[data-test=monitor-live]")).to_have_text("实时")
    expect(admin.locator("[data-test=monitor-chart] canvas")).to_have_count(1)
    queue, active = (admin.locator(f"[data-test={kind}-{presale}]") for kind in ("queue", "active"))
    expect(queue).to_have_text("0")
    # Earlier tests' conversations may still be open: counted from here.
    served = int(active.inner_text())
    after_sales_active = admin.locator(f"[data-test=active-{after_sales}]")
    served_after_sales = int(after_sales_active.inner_text())

    # Bob takes an after-sales visitor, then turns busy: the next pre-sales visitor waits.
    _visitor_in(browsers, demo, after_sales)
    expect(after_sales_active).to_have_text(str(served_after_sales + 1))
    set_status(bob, "busy")
    visitor = _visitor_in(browsers, demo, presale)
    expect(visitor.locator("[data-test=widget-notice]")).to_be_visible()
    expect(queue).to_have_text("1")  # pushed to the admin: nobody reloaded anything
    row = admin.locator("[data-test=monitor-table] tr", has=queue)
    expect(row).to_contain_text("售前")
    shots.take(admin, "admin-monitor.png")

    alice.click("[data-test=accept]")
    expect(queue).to_have_text("0")
    expect(active).to_have_text(str(served + 1))
    close_and_clear(alice)
    expect(active).to_have_text(str(served))

    # English on request; the figures stay live.
    admin.click("[data-test=locale]")
    admin.locator(".el-select-dropdown__item:visible", has_text="English").click()
    expect(admin.locator("[data-test=monitor-live]")).to_have_text("Live")
    expect(admin.locator("[data-test=monitor-page]")).to_contain_text("Longest wait")
    browsers.console.assert_clean()
