"""Canned replies and the knowledge base in use: the admin adds a shared canned reply; an
agent serving a visitor inserts it from the side panel and with "/shortcut", keeps a personal
reply of her own and uses it, and answers from the knowledge base by search and by auto
match; the visitor receives every answer."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Browsers, Demo, Shots, close_and_clear, field, open_widget, visitor_says

SF_TEXT = "亲，这一单已为您升级顺丰包邮，预计明天送达～"
DELIVERY_ANSWER = "可以的，下单时在备注里写上希望的送货时间，我们会提醒快递员按时配送。"
REFUND_ANSWER = "仓库签收退货后1-3个工作日内办理退款"  # the demo's 退款多久到账？


def add_canned_reply_and_article(admin: Any, shots: Shots) -> None:
    admin.click("[data-test=nav-admin]")
    admin.click("[data-test=admin-nav-canned]")
    page = admin.locator("[data-test=canned-page]")
    expect(page.locator("[data-test=canned-table]")).to_contain_text("发货时间")  # the demo's
    page.locator("[data-test='category-发货物流']").click()
    expect(page.locator("[data-test=canned-table]")).not_to_contain_text("七天无理由")
    page.locator("[data-test=add-canned]").click()
    dialog = admin.locator(".el-dialog").filter(has_text="添加常用语")
    dialog.locator("[data-test=canned-category]").click()
    admin.locator(".el-select-dropdown__item:visible", has_text="发货物流").click()
    field(dialog, "canned-title").fill("顺丰包邮")
    field(dialog, "canned-shortcut").fill("sf")
    field(dialog, "canned-content").fill(SF_TEXT)
    dialog.locator("[data-test=canned-save]").click()
    expect(dialog).to_be_hidden()
    row = page.locator("[data-test=canned-table] tr", has_text="顺丰包邮")
    expect(row).to_contain_text("/sf")
    expect(row).to_contain_text("发货物流")
    shots.take(admin, "admin-canned.png")
    # Removing one asks first.
    page.locator("[data-test=canned-table] tr", has_text="查询物流").get_by_text("删除").click()
    admin.locator(".el-message-box").get_by_role("button", name="确定").click()
    expect(page.locator("[data-test=canned-table]")).not_to_contain_text("查询物流")

    admin.click("[data-test=admin-nav-kb]")
    kb = admin.locator("[data-test=kb-page]")
    expect(kb.locator("[data-test=kb-table]")).to_contain_text("可以退货吗？")
    kb.locator("[data-test=add-article]").click()
    dialog = admin.locator(".el-dialog").filter(has_text="添加知识")
    field(dialog, "kb-question").fill("可以指定送货时间吗？")
    dialog.locator("[data-test=kb-category]").click()
    admin.locator(".el-select-dropdown__item:visible", has_text="物流配送").click()
    keywords = field(dialog, "kb-keywords")
    for keyword in ("送货时间", "指定时间"):
        keywords.fill(keyword)
        keywords.press("Enter")
    field(dialog, "kb-answer").fill(DELIVERY_ANSWER)
    dialog.locator("[data-test=kb-save]").click()
    expect(dialog).to_be_hidden()
    row = kb.locator("[data-test=kb-table] tr", has_text="可以指定送货时间吗？")
    expect(row).to_contain_text("送货时间")
    expect(row).to_contain_text("指定时间")
    expect(row).to_contain_text("物流配送")
    # Only enabled articles are offered to agents: the demo keeps one switched off.
    kb.locator("[data-test=kb-state]").click()
    admin.locator(".el-select-dropdown__item:visible", has_text="已停用").click()
    expect(kb.locator("[data-test=kb-table] tbody tr")).to_have_count(1)
    expect(kb.locator("[data-test=kb-table]")).to_contain_text("预售定金可以退吗？")
    kb.locator("[data-test=kb-state]").click()
    admin.locator(".el-select-dropdown__item:visible", has_text="全部状态").click()
    expect(kb.locator("[data-test=kb-table]")).to_contain_text("可以退货吗？")
    shots.take(admin, "admin-kb.png")


def test_agent_answers_with_canned_replies_and_the_knowledge_base(
    browsers: Browsers, demo: Demo, shots: Shots
) -> None:
    demo.wait_all_away()
    admin = browsers.agent("admin", status=None)
    add_canned_reply_and_article(admin, shots)

    alice = browsers.agent("alice")
    visitor = browsers.visitor()
    open_widget(visitor)
    visitor_says(visitor, "你好，我想问下什么时候能发货？")
    expect(alice.locator("[data-test=message-visitor]")).to_contain_text("什么时候能发货")
    from_agent = visitor.locator("[data-test=widget-message-agent]")
    editor = alice.locator("[data-test=editor]")

    # The picker: the side panel's canned replies, by category, with a search box.
    alice.click("[data-test=open-canned]")
    panel = alice.locator("[data-test=canned-panel]")
    expect(panel.locator("[data-test='canned-group-发货物流']")).to_contain_text("顺丰包邮")
    field(panel, "canned-filter").fill("顺丰")
    expect(panel.locator("[data-test^=canned-group-]")).to_have_count(1)
    panel.locator("[data-test^=canned-reply-]", has_text="顺丰包邮").click()
    expect(editor).to_have_text(SF_TEXT)
    field(panel, "canned-filter").fill("")
    shots.take(alice, "workspace-canned.png")
    editor.press("Enter")
    expect(from_agent).to_have_count(1)
    expect(from_agent.last).to_contain_text(SF_TEXT)
    expect(editor).to_have_text("")

    # "/" and the shortcut in the editor.
    editor.click()
    alice.keyboard.type("好的 /s")
    menu = alice.locator("[data-test=slash-menu]")
    expect(menu.locator("[data-test=slash-item]").first).to_contain_text("/sf")
    alice.keyboard.type("f")
    expect(menu.locator("[data-test=slash-item]").first).to_contain_text("顺丰包邮")
    shots.take(alice, "workspace-slash.png")
    alice.keyboard.press("Enter")
    expect(menu).to_have_count(0)
    expect(editor).to_have_text(f"好的 {SF_TEXT}")
    alice.keyboard.press("Enter")
    expect(from_agent).to_have_count(2)
    expect(from_agent.last).to_contain_text(f"好的 {SF_TEXT}")

    # A personal reply of Alice's own, used with its shortcut at once.
    panel.locator("[data-test=canned-scope-personal]").click()
    expect(panel).to_contain_text("我的开场白")  # the demo gives Alice one
    panel.locator("[data-test=canned-add-personal]").click()
    mine = alice.locator(".el-dialog").filter(has_text="添加个人常用语")
    field(mine, "canned-title").fill("稍后回复")
    field(mine, "canned-shortcut").fill("/wait")
    field(mine, "canned-content").fill("我去仓库帮您确认一下，两分钟后回复您。")
    mine.locator("[data-test=canned-save]").click()
    expect(mine).to_be_hidden()
    expect(panel.locator("[data-test^=canned-reply-]", has_text="稍后回复")).to_contain_text("/wait")
    editor.click()
    alice.keyboard.type("/wai")
    expect(alice.locator("[data-test=slash-item]").first).to_contain_text("稍后回复")
    alice.keyboard.press("Tab")
    alice.keyboard.press("Enter")
    expect(from_agent).to_have_count(3)
    expect(from_agent.last).to_contain_text("两分钟后回复您")

    # The knowledge base: search the admin's new article, then send its answer as it is.
    alice.click("[data-test=side-tab-kb]")
    kb = alice.locator("[data-test=kb-panel]")
    field(kb, "kb-query").fill("定金")  # switched off: agents do not find it
    kb.locator("[data-test=kb-search]").click()
    expect(kb.locator("[data-test=kb-nothing]")).to_be_visible()
    field(kb, "kb-query").fill("送货时间")
    kb.locator("[data-test=kb-search]").click()
    found = kb.locator("[data-test^=kb-result-]", has_text="可以指定送货时间吗？")
    expect(found).to_contain_text(DELIVERY_ANSWER)
    found.locator("[data-test=kb-send]").click()
    expect(from_agent).to_have_count(4)
    expect(from_agent.last).to_contain_text(DELIVERY_ANSWER)

    # Auto match: the visitor's next message finds its answer by a keyword in it.
    kb.locator("[data-test=kb-auto]").click()
    visitor_says(visitor, "那我退款的话，钱多久能退回来？")
    expect(kb.locator("[data-test=kb-matched-for]")).to_contain_text("钱多久能退回来")
    suggested = kb.locator("[data-test^=kb-result-]").first
    expect(suggested).to_contain_text("退款多久到账？")
    shots.take(alice, "workspace-kb.png")
    suggested.locator("[data-test=kb-insert]").click()
    expect(editor).to_contain_text(REFUND_ANSWER)
    editor.press("Enter")
    expect(from_agent).to_have_count(5)
    expect(from_agent.last).to_contain_text(REFUND_ANSWER)

    close_and_clear(alice, "售后退换")

    browsers.console.assert_clean()
