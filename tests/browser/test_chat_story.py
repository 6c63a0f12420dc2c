"""The whole day in one story: an admin adds an agent, a visitor on the demo shop asks, the
agent sees the question being typed and answers, transfers to a colleague, who asks for a
rating and closes with a summary."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Browsers, Demo, Shots, agent_says, field, open_widget, png

DAVE_PASSWORD = "dave-password-1"
# Fires a paste of a PNG (given as hex) on the element, as a screenshot pasted with Ctrl+V does.
PASTE_IMAGE = """(el, hex) => {
  const bytes = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)))
  const data = new DataTransfer()
  data.items.add(new File([bytes], 'screenshot.png', { type: 'image/png' }))
  el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
}"""


def image(name: str, rgb: tuple[int, int, int]) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/png", "buffer": png(48, 32, rgb)}


def add_agent_in_admin(admin: Any, shots: Shots) -> None:
    admin.click("[data-test=nav-admin]")
    admin.wait_for_selector("[data-test=agents-page]")
    admin.click("[data-test=add-agent]")
    dialog = admin.locator(".el-dialog").filter(has_text="添加客服")
    field(dialog, "agent-username").fill("dave")
    field(dialog, "agent-password").fill(DAVE_PASSWORD)
    field(dialog, "agent-nickname").fill("小王")
    field(dialog, "agent-max").fill("3")
    dialog.locator("[data-test=agent-groups]").click()
    admin.locator(".el-select-dropdown__item:visible", has_text="售前").click()
    dialog.locator(".el-dialog__title").click()  # close the dropdown
    dialog.locator("[data-test=agent-save]").click()
    expect(dialog).to_be_hidden()
    expect(admin.locator("[data-test=agents-page] .el-loading-mask")).to_have_count(0)
    row = admin.locator("[data-test=agents-table] tr", has_text="dave")
    expect(row).to_contain_text("小王")
    expect(row).to_contain_text("售前")
    shots.take(admin, "admin-agents.png")


def add_summary_categories(admin: Any, shots: Shots) -> None:
    admin.click("[data-test=admin-nav-settings]")
    admin.wait_for_selector("[data-test=embed-snippet]")
    # The demo seeds 商品咨询, 物流查询, …; the admin adds more of their own here.
    for name in ("尺码咨询", "发票问题", "价格保护"):
        field(admin, "new-category").fill(name)
        admin.click("[data-test=add-category]")
        expect(admin.locator("[data-test=summary-category-list]")).to_contain_text(name)
    expect(admin.locator("[data-test=embed-snippet]")).to_contain_text("widget.js")
    shots.take(admin, "admin-settings.png", full_page=True)


def test_visitor_chats_with_agents(browsers: Browsers, demo: Demo, shots: Shots) -> None:
    demo.wait_all_away()
    admin = browsers.agent("admin", status=None)
    add_agent_in_admin(admin, shots)
    add_summary_categories(admin, shots)

    dave = browsers.agent("dave", password=DAVE_PASSWORD)
    alice = browsers.agent("alice", status="busy")

    visitor = browsers.visitor()
    open_widget(visitor)
    expect(visitor.locator("[data-test=widget-title]")).to_have_text("小王")

    # Dave sees the question while it is being typed, then the message.
    question = "你好，请问这款耳机有现货吗？"
    visitor.fill("[data-test=widget-input]", question)
    expect(dave.locator("[data-test=typing-preview]")).to_contain_text(question)
    room = dave.locator("[data-test=chat-room]").inner_text()
    shots.take(dave, "workspace-typing-preview.png")
    visitor.click("[data-test=widget-send]")
    expect(dave.locator("[data-test=message-visitor]")).to_contain_text(question)
    expect(dave.locator("[data-test=typing-preview]")).to_have_count(0)
    expect(visitor.locator("[data-test=delivery-sent]")).to_have_count(1)
    expect(dave.locator(f"[data-test='conversation-{room}']")).to_contain_text(question)

    # Dave answers, in bold; the visitor sees it formatted.
    dave.click("[data-test=fmt-bold]")
    agent_says(dave, "有现货，今天下单今天发货")
    reply = visitor.locator("[data-test=widget-message-agent]").last
    expect(reply).to_contain_text("有现货，今天下单今天发货")
    expect(reply.locator("b, strong")).to_have_count(1)
    expect(dave.locator("[data-test=delivery-sent]")).to_have_count(1)
    agent_says(dave, "请问还有什么可以帮您？")
    expect(visitor.locator("[data-test=widget-message-agent]")).to_have_count(2)
    visitor.fill("[data-test=widget-input]", "白色的也有吗？")
    visitor.click("[data-test=widget-send]")
    expect(dave.locator("[data-test=message-visitor]")).to_have_count(2)

    # Pictures both ways: the visitor uploads one, Dave pastes a screenshot.
    visitor.set_input_files("[data-test=widget-file]", files=[image("photo.png", (234, 88, 12))])
    expect(dave.locator("[data-test=message-visitor] img")).to_have_count(1)
    dave.locator("[data-test=editor]").evaluate(PASTE_IMAGE, png(64, 40, (22, 163, 74)).hex())
    expect(visitor.locator("[data-test=widget-message-agent] img")).to_have_count(1)
    expect(visitor.locator("[data-test=widget-message-agent] img")).to_have_js_property("complete", True)
    shots.take(dave, "workspace.png")
    shots.take(visitor, "widget-chat.png")

    # Dave hands the visitor to Alice (busy: she takes transfers but no new visitors).
    dave.click("[data-test=transfer]")
    transfer = dave.locator(".el-dialog").filter(has_text="确认转接")
    transfer.locator("[data-test=transfer-to-alice]").click()
    shots.take(dave, "workspace-transfer.png")
    transfer.locator("[data-test=transfer-confirm]").click()
    expect(dave.locator(f"[data-test='conversation-{room}']")).to_have_count(0)
    conversation = alice.locator(f"[data-test='conversation-{room}']")
    expect(conversation).to_contain_text("转接")
    conversation.click()
    expect(alice.locator("[data-test=message-visitor]").first).to_contain_text(question)
    expect(visitor.locator("[data-test=widget-title]")).to_have_text("小美")

    # Alice asks for a rating; the visitor gives five stars.
    alice.click("[data-test=push-rating]")
    expect(visitor.locator("[data-test=rating-card]")).to_be_visible()
    visitor.click("[data-test=rate-5]")
    visitor.fill("[data-test=rate-comment]", "回复很快，谢谢")
    shots.take(visitor, "widget-rating.png")
    visitor.click("[data-test=rate-submit]")
    expect(visitor.locator("[data-test=rating-thanks]")).to_be_visible()
    expect(alice.locator("[data-test=rating-tag]")).to_contain_text("5")

    # Alice closes with a summary, then takes it off her list.
    alice.click("[data-test=close]")
    summary = alice.locator(".el-dialog").filter(has_text="结束并提交小结")
    summary.locator("label", has_text="尺码咨询").click()
    field(summary, "summary-note").fill("咨询现货与颜色，已解答")
    shots.take(alice, "workspace-summary.png")
    summary.locator("[data-test=summary-submit]").click()
    expect(alice.locator("[data-test=closed-bar]")).to_contain_text("小结已填写")
    expect(visitor.locator("[data-test=widget-notice]")).to_contain_text("对话已结束")
    alice.click("[data-test=clear]")
    expect(alice.locator(f"[data-test='conversation-{room}']")).to_have_count(0)

    browsers.console.assert_clean()
