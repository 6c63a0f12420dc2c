"""/monitor: the live group monitor's figures, for admins (updates come over /ws/agent)."""

from __future__ import annotations

from fastapi import APIRouter

from kefu.auth.access import AdminActor
from kefu.database.session import SessionDep
from kefu.monitor import service
from kefu.monitor.schemas import MonitorOut

router = APIRouter(tags=["monitor"])


@router.get("/monitor")
async def read_monitor(actor: AdminActor, session: SessionDep) -> MonitorOut:
    """Per group: queue length, longest wait, active conversations, connected agents by
    status; and the totals. ``monitor.subscribe`` on the agent socket keeps them live."""
    return await service.snapshot(session, merchant_id=actor.merchant_id)
