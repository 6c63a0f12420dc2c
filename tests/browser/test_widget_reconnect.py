"""The visitor's connection drops: messages wait in the outbox, the widget reconnects by
itself, and everything arrives exactly once, in both directions."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.browser.conftest import Browsers, CuttableProxy, Demo, Shots, agent_says, open_widget, visitor_says

OUTBOX_SIZES = (
    "() => Object.keys(localStorage).filter(k => k.endsWith(':outbox'))"
    ".map(k => JSON.parse(localStorage.getItem(k)).length)"
)
# What Chromium itself logs about the sockets and requests the cut connection broke.
NETWORK_NOISE = (r"WebSocket connection to .* failed", r"net::ERR_", r"Failed to load resource")


def test_outbox_is_delivered_once_after_reconnecting(browsers: Browsers, demo: Demo, shots: Shots) -> None:
    demo.wait_all_away()
    carol = browsers.agent("carol")
    proxy = CuttableProxy(urlsplit(demo.url).port or 80)
    try:
        visitor = browsers.visitor(f"http://127.0.0.1:{proxy.port}/demo/shop")
        sockets: list[str] = []
        visitor.on("websocket", lambda ws: sockets.append(ws.url))
        requests: list[str] = []
        visitor.on("request", lambda request: requests.append(request.url))
        open_widget(visitor)
        expect(visitor.locator("[data-test=widget-title]")).to_have_text("小芳")
        visitor_says(visitor, "在吗？我想问个问题")
        expect(carol.locator("[data-test=message-visitor]")).to_have_count(1)
        # Its ack can still be on its way when the agent already shows it: cut only after it.
        expect(visitor.locator("[data-test=delivery-sent]")).to_have_count(1)

        proxy.cut()
        expect(visitor.locator("[data-test=widget-notice]")).to_contain_text("正在重新连接")
        visitor_says(visitor, "断网时发的第二条")
        visitor_says(visitor, "断网时发的第三条")
        expect(visitor.locator("[data-test=delivery-sending]")).to_have_count(2)
        assert visitor.evaluate(OUTBOX_SIZES) == [2]
        agent_says(carol, "您好，请讲")  # sent while the visitor is away: resumed later
        shots.take(visitor, "widget-reconnecting.png")

        proxy.restore()
        expect(visitor.locator("[data-test=delivery-sent]")).to_have_count(3, timeout=20_000)
        expect(visitor.locator("[data-test=widget-notice]")).to_be_hidden()
        assert visitor.evaluate(OUTBOX_SIZES) == []
        messages = carol.locator("[data-test=message-visitor]")
        expect(messages).to_have_count(3)
        for text in ("在吗？我想问个问题", "断网时发的第二条", "断网时发的第三条"):
            expect(messages.filter(has_text=text)).to_have_count(1)
        expect(visitor.locator("[data-test=widget-message-agent]", has_text="您好，请讲")).to_have_count(1)
        # The first socket opened the widget session (no HTTP call for it); the reconnects
        # showed the token it gave.
        assert "widget_key=" in sockets[0] and "token=" not in sockets[0]
        assert len(sockets) >= 2 and all("token=" in u and "widget_key=" not in u for u in sockets[1:])
        assert not [u for u in requests if "/widget/sessions" in u]

        # A reload after all that shows the same transcript, once.
        visitor.reload()
        expect(visitor.locator("[data-test=widget-message-visitor]")).to_have_count(3)
        expect(visitor.locator("[data-test=widget-message-agent]")).to_have_count(1)
        assert "widget_key=" in sockets[-1] and "token=" in sockets[-1]  # a returning visitor's session
    finally:
        proxy.stop()
    browsers.console.assert_clean(allow=NETWORK_NOISE)
