"""Sending a broadcast: stored, then pushed to every agent socket of the merchant."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import User
from kefu.broadcasts.models import Broadcast
from kefu.realtime.hub import Hub, agents_channel
from kefu.realtime.protocol import BroadcastNew


async def do_send_broadcast(
    session: AsyncSession, hub: Hub, *, merchant_id: int, sender_id: int, title: str, body: str
) -> tuple[Broadcast, str]:
    broadcast = Broadcast(merchant_id=merchant_id, sender_id=sender_id, title=title, body=body)
    session.add(broadcast)
    await session.flush()
    sender = await session.get(User, sender_id)
    name = sender.nickname if sender else ""
    await session.commit()
    await hub.publish(
        agents_channel(merchant_id), BroadcastNew(id=broadcast.id, title=title, body=body, sender=name)
    )
    return broadcast, name
