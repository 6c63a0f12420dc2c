"""The demo merchant: an admin, three agents in two groups; logins kept in the data dir."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.actions import do_create_merchant
from kefu.agents.actions import do_create_agent, do_create_group
from kefu.agents.schemas import AgentIn
from kefu.auth.service import get_user_by_username
from kefu.conversations.actions import do_save_summary_category
from kefu.exceptions import Conflict

LOGINS_FILE = "demo-logins.json"
DEMO_SUMMARY_CATEGORIES = ["商品咨询", "物流查询", "售后退换", "投诉建议", "其他"]
DEMO_AGENTS = [
    ("alice", "小美", ["售前"]),
    ("bob", "小帅", ["售前", "售后"]),
    ("carol", "小芳", ["售后"]),
]


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
    for username, nickname, group_names in DEMO_AGENTS:
        password = secrets.token_urlsafe(9)
        await do_create_agent(
            session,
            merchant_id=merchant_id,
            data=AgentIn(
                username=username,
                password=password,
                nickname=nickname,
                group_ids=[groups[g] for g in group_names],
            ),
        )
        logins.append({"role": "agent", "username": username, "password": password})
    path.write_text(json.dumps(logins, ensure_ascii=False, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return logins
