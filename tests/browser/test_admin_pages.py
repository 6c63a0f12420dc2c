"""The admin center: groups, editing and disabling agents, resetting a password; the
language switch; the login page; the app is installable (PWA)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Browsers, Demo, Shots, field


def test_admin_manages_agents_and_groups(browsers: Browsers, demo: Demo, shots: Shots) -> None:
    login = browsers.page("login")
    login.goto(f"{demo.url}/")
    expect(login.locator("[data-test=login]")).to_contain_text("登录")
    shots.take(login, "login.png")

    admin = browsers.agent("admin", status=None)
    admin.click("[data-test=nav-admin]")

    # Groups: add one with a member.
    admin.click("[data-test=admin-nav-groups]")
    admin.click("[data-test=add-group]")
    dialog = admin.locator(".el-dialog").filter(has_text="添加分组")
    field(dialog, "group-name").fill("VIP 客户")
    dialog.locator("[data-test=group-save]").click()
    expect(admin.locator("[data-test=groups-page] tr", has_text="VIP 客户")).to_have_count(1)
    shots.take(admin, "admin-groups.png")

    # Agents: rename bob, reset his password; he logs in with the new one.
    admin.click("[data-test=admin-nav-agents]")
    admin.click("[data-test=edit-bob]")
    edit = admin.locator(".el-dialog").filter(has_text="编辑客服")
    field(edit, "agent-nickname").fill("小帅哥")
    edit.locator("[data-test=agent-save]").click()
    row = admin.locator("[data-test=agents-table] tr", has_text="bob")
    expect(row).to_contain_text("小帅哥")
    row.get_by_text("重置密码").click()
    prompt = admin.locator(".el-message-box")
    prompt.locator("input").fill("bob-new-password")
    prompt.get_by_role("button", name="确定").click()
    expect(admin.locator(".el-message", has_text="密码已重置")).to_be_visible()
    demo.passwords["bob"] = "bob-new-password"  # for the tests that log bob in after this one
    bob = browsers.agent("bob", status=None)
    expect(bob.locator("[data-test=user-menu]")).to_contain_text("小帅哥")

    # Disable carol's account and enable it again.
    carol_row = admin.locator("[data-test=agents-table] tr", has_text="carol")
    carol_row.locator(".el-switch").click()
    expect(admin.locator(".el-message", has_text="账号已停用")).to_be_visible()
    carol_row.locator(".el-switch").click()
    expect(admin.locator(".el-message", has_text="账号已启用")).to_be_visible()

    # Installable as an app: a manifest with icons, and an active service worker.
    manifest = admin.evaluate("fetch('/manifest.webmanifest').then((r) => r.json())")
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
    assert manifest["display"] == "standalone"
    assert admin.evaluate("navigator.serviceWorker.ready.then((r) => Boolean(r.active))")

    # English on request.
    admin.click("[data-test=locale]")
    admin.locator(".el-select-dropdown__item:visible", has_text="English").click()
    expect(admin.locator("[data-test=nav-admin]")).to_have_text("Admin")
    expect(admin.locator("[data-test=agents-page]")).to_contain_text("Add agent")

    browsers.console.assert_clean()
