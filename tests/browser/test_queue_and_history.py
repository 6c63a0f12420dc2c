"""A busy agent takes a waiting visitor from the queue by hand; a long transcript loads
page by page as the agent scrolls up."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Browsers, Demo, open_widget, visitor_says


def test_accept_from_queue_and_lazy_history(browsers: Browsers, demo: Demo) -> None:
    demo.wait_all_away()
    alice = browsers.agent("alice", status="busy")  # busy: no automatic visitors
    visitor = browsers.visitor()
    open_widget(visitor)
    expect(visitor.locator("[data-test=widget-notice]")).to_contain_text("您是下一位")
    expect(alice.locator("[data-test=queue-count]")).to_have_text("1")

    alice.click("[data-test=accept]")
    expect(alice.locator("[data-test=queue-count]")).to_have_text("0")
    expect(visitor.locator("[data-test=widget-title]")).to_have_text("小美")
    expect(visitor.locator("[data-test=widget-notice]")).to_be_hidden()

    for n in range(1, 36):
        visitor_says(visitor, f"第{n}条")
    expect(visitor.locator("[data-test=delivery-sent]")).to_have_count(35)
    expect(alice.locator("[data-test=message-visitor]")).to_have_count(35)

    # After a reload only the newest page is fetched; scrolling up brings the rest.
    alice.reload()
    messages = alice.locator("[data-test=message-visitor]")
    expect(messages.last).to_contain_text("第35条")
    assert messages.count() < 35
    expect(alice.locator("[data-test=unread]")).to_have_count(0)
    alice.locator("[data-test=messages]").evaluate(
        "el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')) }"
    )
    expect(messages).to_have_count(35)
    expect(messages.first).to_contain_text("第1条")
    expect(alice.locator("[data-test=messages]")).to_contain_text("以上是全部历史消息")

    browsers.console.assert_clean()
