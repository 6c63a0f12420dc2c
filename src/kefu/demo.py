"""The demo merchant: an admin, three agents in two groups, canned replies and a knowledge
base of a small online shop; logins kept in the data dir."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.actions import do_create_merchant
from kefu.accounts.models import Role
from kefu.agents.actions import do_create_agent, do_create_group
from kefu.agents.schemas import AgentIn
from kefu.auth.access import Actor
from kefu.auth.service import get_user_by_username
from kefu.canned import actions as canned
from kefu.canned.models import CannedReplyCategory
from kefu.canned.schemas import CannedReplyIn, Scope
from kefu.categories import CategoryIn, do_create_category
from kefu.conversations.actions import do_save_summary_category
from kefu.exceptions import Conflict
from kefu.kb import actions as kb
from kefu.kb.models import KbCategory
from kefu.kb.schemas import KbArticleIn

LOGINS_FILE = "demo-logins.json"
DEMO_SUMMARY_CATEGORIES = ["商品咨询", "物流查询", "售后退换", "投诉建议", "其他"]
DEMO_AGENTS = [
    ("alice", "小美", ["售前"]),
    ("bob", "小帅", ["售前", "售后"]),
    ("carol", "小芳", ["售后"]),
]
# Category → (title, shortcut, content) of the shared canned replies.
DEMO_CANNED_REPLIES = {
    "问候": [
        ("欢迎语", "hi", "您好，欢迎光临演示商城！我是在线客服，请问有什么可以帮您？"),
        ("请稍等", "dd", "好的，请稍等，我马上为您查询～"),
    ],
    "发货物流": [
        ("发货时间", "fh", "亲，下午4点前付款的订单当天发货，之后的次日发货，节假日也正常发货哦。"),
        ("快递公司", "kd", "我们默认发中通快递，需要顺丰的话下单时备注一下，补10元差价即可。"),
        ("查询物流", "wl", "您可以在「我的订单」→「查看物流」中看到实时物流，也可以把订单号发给我帮您查。"),
    ],
    "退换货": [
        (
            "七天无理由",
            "th",
            "本店支持七天无理由退换货，商品和包装不影响二次销售即可，请在订单页点击「申请售后」。",
        ),
        (
            "退货地址",
            "dz",
            "退货地址：上海市浦东新区演示路88号 演示商城售后部 收，021-00000000。包裹内请附上订单号哦。",
        ),
        ("退款时效", "tk", "仓库签收退货后1-3个工作日内为您办理退款，款项原路退回。"),
    ],
    "优惠活动": [
        ("满减活动", "mj", "本店现在满199减20、满299减40，还可以和店铺优惠券叠加使用哦～"),
        ("领优惠券", "yhq", "店铺首页可以领取无门槛优惠券，下单结算时会自动抵扣。"),
    ],
    "结束语": [
        ("感谢咨询", "bye", "感谢您的耐心咨询，祝您购物愉快！有问题随时联系我们～"),
        ("邀请评价", "pj", "如果对我的服务满意，麻烦在评价里给个五星好评哦，谢谢亲！"),
    ],
}
# Agent → (title, shortcut, content) of their personal replies.
DEMO_PERSONAL_REPLIES = {"alice": [("我的开场白", "xm", "您好，我是客服小美，很高兴为您服务～")]}
# Category → (question, keywords, answer, enabled) of the knowledge base.
DEMO_KB = {
    "物流配送": [
        (
            "多久发货？",
            ["发货", "什么时候发", "几天发"],
            "下午4点前付款的订单当天发货，之后的次日发货；预售商品以商品页写明的发货时间为准。",
            True,
        ),
        (
            "发什么快递？可以指定顺丰吗？",
            ["快递", "顺丰", "中通"],
            "默认发中通快递，全国大部分地区2-4天送达。需要顺丰请在下单时备注，补10元差价即可。",
            True,
        ),
        (
            "可以修改收货地址吗？",
            ["地址", "改地址"],
            "未发货前可以修改：在订单页点击「修改地址」，或把新地址发给客服；已发货的订单需联系快递改派。",
            True,
        ),
    ],
    "售后服务": [
        (
            "可以退货吗？",
            ["退货", "七天无理由", "退换"],
            "支持七天无理由退换货，商品及包装不影响二次销售即可。请在订单页点击「申请售后」，审核通过后按退货地址寄回。",
            True,
        ),
        (
            "退款多久到账？",
            ["退款", "到账", "退钱"],
            "仓库签收退货后1-3个工作日内办理退款，原路退回：支付宝、微信即时到账，银行卡1-5个工作日。",
            True,
        ),
        (
            "收到的商品有破损怎么办？",
            ["破损", "坏了", "质量问题", "少件"],
            "非常抱歉！请拍下商品和外包装的照片发给客服，核实后为您免费补发或退款，来回运费由我们承担。",
            True,
        ),
    ],
    "支付与发票": [
        (
            "可以开发票吗？",
            ["发票", "开票", "专票"],
            "可以开具电子普通发票：下单时填写抬头和税号，确认收货后24小时内发送到您的邮箱；需要增值税专票请联系客服。",
            True,
        ),
        (
            "预售定金可以退吗？",
            ["定金", "预售"],
            "预售定金在尾款支付前可以申请退还，尾款支付后按普通订单的售后规则处理。",
            False,
        ),
    ],
    "优惠活动": [
        (
            "优惠券怎么用？",
            ["优惠券", "优惠", "满减"],
            "在店铺首页领取优惠券后，下单结算时自动抵扣；满减活动可与店铺券叠加，平台券以平台规则为准。",
            True,
        ),
    ],
}


async def seed_demo(session: AsyncSession, data_dir: Path) -> list[dict[str, Any]]:
    """Create the demo merchant once; every later call returns the same logins."""
    path = data_dir / LOGINS_FILE
    admin = await get_user_by_username(session, username="admin")
    if path.exists():
        logins: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        if admin is not None:
            return logins
        # The logins of a database that is gone (deleted, or another KEFU_DATABASE_URL).
    elif admin is not None:
        raise Conflict(
            "演示商家已存在，但登录信息文件丢失",
            f"The demo merchant exists but {path} is gone; use an empty KEFU_DATA_DIR",
            code="demo_logins_lost",
        )
    admin_password = secrets.token_urlsafe(9)
    created = await do_create_merchant(
        session,
        name="演示商城",
        admin_username="admin",
        admin_password=admin_password,
        admin_nickname="店长",
    )
    merchant_id = created.merchant_id
    groups = {}
    for name in ("售前", "售后"):
        group = await do_create_group(session, merchant_id=merchant_id, name=name, agent_ids=None)
        groups[name] = group.id
    for name in DEMO_SUMMARY_CATEGORIES:
        await do_save_summary_category(session, merchant_id=merchant_id, name=name)
    logins = [{"role": "admin", "username": "admin", "password": admin_password}]
    actors = {"admin": Actor(created.admin_id, "admin", Role.admin, merchant_id, token="")}
    for username, nickname, group_names in DEMO_AGENTS:
        password = secrets.token_urlsafe(9)
        agent = await do_create_agent(
            session,
            merchant_id=merchant_id,
            data=AgentIn(
                username=username,
                password=password,
                nickname=nickname,
                group_ids=[groups[g] for g in group_names],
            ),
        )
        actors[username] = Actor(agent.id, username, Role.agent, merchant_id, token="")
        logins.append({"role": "agent", "username": username, "password": password})
    await _seed_library(session, actors)
    path.write_text(json.dumps(logins, ensure_ascii=False, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return logins


async def _seed_library(session: AsyncSession, actors: dict[str, Actor]) -> None:
    """The shop's canned replies (shared, and one agent's own) and its knowledge base."""
    admin = actors["admin"]
    merchant_id = admin.merchant_id

    async def reply(actor: Actor, scope: Scope, category_id: int | None, entry: tuple[str, str, str]) -> None:
        title, shortcut, content = entry
        data = CannedReplyIn(
            scope=scope, category_id=category_id, title=title, shortcut=shortcut, content=content
        )
        await canned.do_create_reply(session, actor=actor, data=data)

    for order, (name, replies) in enumerate(DEMO_CANNED_REPLIES.items()):
        category = await do_create_category(
            session,
            CannedReplyCategory,
            canned.CATEGORY,
            merchant_id=merchant_id,
            data=CategoryIn(name=name, sort_order=order),
        )
        for entry in replies:
            await reply(admin, "shared", category.id, entry)
    for username, replies in DEMO_PERSONAL_REPLIES.items():
        for entry in replies:
            await reply(actors[username], "personal", None, entry)
    for order, (name, articles) in enumerate(DEMO_KB.items()):
        kb_category = await do_create_category(
            session,
            KbCategory,
            kb.CATEGORY,
            merchant_id=merchant_id,
            data=CategoryIn(name=name, sort_order=order),
        )
        for question, keywords, answer, enabled in articles:
            article = KbArticleIn(
                category_id=kb_category.id,
                question=question,
                keywords=keywords,
                answer=answer,
                enabled=enabled,
            )
            await kb.do_create_article(session, merchant_id=merchant_id, data=article)
