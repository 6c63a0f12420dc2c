"""Nobody is serving: the visitor leaves a message, the admin replies, and the visitor reads
the reply on their next visit."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Browsers, Demo, Shots, field, open_widget


def test_offline_message_is_answered_on_the_next_visit(browsers: Browsers, demo: Demo, shots: Shots) -> None:
    demo.wait_all_away()
    visitor = browsers.visitor()
    open_widget(visitor)
    expect(visitor.locator("[data-test=offline-form]")).to_be_visible()
    expect(visitor.locator("[data-test=widget-input]")).to_be_hidden()
    visitor.fill("[data-test=offline-content]", "白色款耳机什么时候补货？")
    visitor.fill("[data-test=offline-contact]", "13800138000")
    shots.take(visitor, "widget-offline-form.png")
    visitor.click("[data-test=offline-submit]")
    expect(visitor.locator("[data-test=offline-status]")).to_contain_text("留言已提交")
    expect(visitor.locator("[data-test=offline-note]")).to_contain_text("白色款耳机什么时候补货")

    admin = browsers.agent("admin", status=None)
    admin.click("[data-test=nav-admin]")
    admin.click("[data-test=admin-nav-offline]")
    row = admin.locator("[data-test=offline-table] tr", has_text="白色款耳机什么时候补货")
    expect(row).to_contain_text("13800138000")
    shots.take(admin, "admin-offline-messages.png")
    row.locator("[data-test=offline-open]").click()
    field(admin, "offline-reply").fill("白色款下周三到货，到货后短信通知您。")
    admin.click("[data-test=offline-send]")
    expect(row).to_have_count(0)  # it left the "pending" list

    # The next visit: the widget reopens by itself and shows the reply.
    visitor.reload()
    expect(visitor.locator("[data-test=offline-reply]")).to_contain_text("白色款下周三到货")
    shots.take(visitor, "widget-offline-reply.png")

    browsers.console.assert_clean()
