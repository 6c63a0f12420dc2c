"""The demo shop page: a fake product page with the widget on it, to chat with yourself.

Its own CSS is deliberately heavy-handed (global font, button and box rules) so that it shows
the widget keeping its look on any page.
"""

from __future__ import annotations

from html import escape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import Merchant

DEMO_MERCHANT = "演示商城"

PRODUCTS = [
    ("无线降噪耳机 Pro", "¥ 899", "主动降噪 · 40 小时续航 · 蓝牙 5.3", "#dbeafe", "🎧"),
    ("智能手表 S2", "¥ 1,299", "血氧心率监测 · 14 天续航 · 50 米防水", "#fce7f3", "⌚"),
    ("便携咖啡机", "¥ 459", "一键萃取 · USB-C 充电 · 送胶囊 20 颗", "#fef3c7", "☕"),
]

PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - 无线降噪耳机 Pro</title>
<style>
  * {{ font-family: Georgia, "Songti SC", serif; box-sizing: content-box; }}
  body {{ margin: 0; background: #faf7f2; color: #3b2f2f; }}
  button {{ background: #7c2d12; color: #fff; border: 3px solid #431407; padding: 12px 28px;
            font-size: 18px; border-radius: 0; text-transform: uppercase; }}
  div {{ line-height: 1.8; }}
  header {{ background: #431407; color: #fff; padding: 14px 40px; display: flex; gap: 32px;
            align-items: center; }}
  header b {{ font-size: 22px; }}
  header a {{ color: #fed7aa; text-decoration: none; }}
  .tip {{ background: #fff7ed; border-bottom: 1px solid #fdba74; padding: 10px 40px; font-size: 14px; }}
  .tip a {{ color: #c2410c; }}
  main {{ max-width: 1040px; margin: 32px auto; padding: 0 24px; }}
  .hero {{ display: flex; gap: 40px; background: #fff; padding: 32px; border: 1px solid #e7e0d6; }}
  .pic {{ width: 360px; height: 300px; display: flex; align-items: center; justify-content: center;
          font-size: 120px; background: #dbeafe; }}
  .price {{ color: #b91c1c; font-size: 30px; margin: 12px 0; }}
  .grid {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 20px; margin-top: 28px; }}
  .card {{ background: #fff; border: 1px solid #e7e0d6; padding: 16px; }}
  .card .pic {{ width: auto; height: 140px; font-size: 64px; }}
  footer {{ text-align: center; color: #a8a29e; padding: 40px; font-size: 13px; }}
</style>
</head>
<body>
<header><b>{title}</b><a href="#">首页</a><a href="#">数码</a><a href="#">家电</a>
  <a href="#">我的订单</a></header>
<div class="tip">这是 kefu 的演示页面：点击右下角的「在线咨询」就能和客服聊天。
  在另一个窗口打开 <a href="/" target="_blank">客服工作台</a>，用 <code>kefu demo</code> 打印的账号登录，
  把状态切换为「在线」，就可以自己和自己对话。</div>
<main>
  <section class="hero">
    <div class="pic">🎧</div>
    <div>
      <h1>无线降噪耳机 Pro</h1>
      <div>主动降噪 · 40 小时续航 · 蓝牙 5.3 · 支持双设备连接</div>
      <div class="price">¥ 899 <small><s>¥ 1,099</s></small></div>
      <div>颜色：<b>星空黑</b> / 云雾白 &nbsp; 库存：有货，今天 18:00 前下单当天发货</div>
      <p><button type="button">加入购物车</button> &nbsp; <button type="button">立即购买</button></p>
    </div>
  </section>
  <div class="grid">{cards}</div>
</main>
<footer>演示商城 · 仅用于演示 kefu 在线客服，商品均为虚构</footer>
{widget}
</body>
</html>
"""

CARD = """<div class="card"><div class="pic" style="background:{color}">{icon}</div>
<h3>{name}</h3><div>{desc}</div><div class="price">{price}</div></div>"""

NO_MERCHANT = """<!doctype html><meta charset="utf-8"><title>演示商城</title>
<p>还没有商家：请先运行 <code>kefu demo</code>。</p>
<p>There is no merchant yet: run <code>kefu demo</code> first.</p>"""


async def demo_merchant(session: AsyncSession) -> Merchant | None:
    """The demo merchant ("演示商城"), or else the first merchant there is."""
    found = await session.scalar(select(Merchant).where(Merchant.name == DEMO_MERCHANT).limit(1))
    if found is not None:
        return found
    first: Merchant | None = await session.scalar(select(Merchant).order_by(Merchant.id).limit(1))
    return first


def render_shop(merchant: Merchant | None, *, group_id: int | None = None, lang: str | None = None) -> str:
    """The shop page's HTML, with the widget script tag for ``merchant``."""
    if merchant is None:
        return NO_MERCHANT
    attrs = f'data-key="{escape(merchant.widget_key)}"'
    if group_id is not None:
        attrs += f' data-group="{group_id}"'
    if lang in ("en", "zh-CN"):
        attrs += f' data-lang="{lang}"'
    widget = f'<script src="/widget.js" {attrs} async></script>'
    cards = "".join(
        CARD.format(name=escape(n), price=escape(p), desc=escape(d), color=c, icon=i)
        for n, p, d, c, i in PRODUCTS
    )
    return PAGE.format(title=escape(merchant.name), cards=cards, widget=widget)
