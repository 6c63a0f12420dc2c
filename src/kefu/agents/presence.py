"""Sockets and servers: who is connected where, heartbeats, and sweeping dead servers.

Each server counts its own sockets per agent and per visitor in ``presence`` rows keyed by
its server id, and beats its heartbeat row. A server whose heartbeat stops is swept by any
other (or by itself on restart): its rows go, and agents left with no socket anywhere start
their grace period.

With several servers, two rules keep the counts right. Every change of one subject's
sockets holds a per-subject lock (an advisory lock on PostgreSQL) until its commit, so a
disconnect on one server and a connect on another never both read the other's count
before it is committed (which would start a grace period for a connected agent, or none
for a gone one). And a dead server is claimed by deleting its rows: of several sweepers,
exactly one gets them back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts import service as accounts
from kefu.agents.models import AgentState, Presence, ServerHeartbeat
from kefu.database.base import table, utcnow
from kefu.database.prepared import Prepared

AGENT = "agent"
VISITOR = "visitor"
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
_LOCK_CLASS = {AGENT: 2, VISITOR: 3}  # advisory lock namespaces (routing uses 1)


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def lock_subject(session: AsyncSession, *, kind: str, subject_id: int) -> None:
    """Serialise changes to one agent's or visitor's sockets until commit (PostgreSQL)."""
    if _is_postgres(session):
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:k, :s)"), {"k": _LOCK_CLASS[kind], "s": subject_id}
        )


_p = table(Presence)


def _count_up(insert: Any) -> Any:
    stmt = insert(_p).values(
        server_id=bindparam("server_id"),
        kind=bindparam("kind"),
        subject_id=bindparam("subject_id"),
        merchant_id=bindparam("merchant_id"),
        connections=bindparam("n"),
    )
    return stmt.on_conflict_do_update(
        index_elements=["server_id", "kind", "subject_id"],
        set_={"connections": _p.c.connections + stmt.excluded.connections},
    )


_COUNT_UP = {"postgresql": Prepared(_count_up(pg_insert)), "sqlite": Prepared(_count_up(sqlite_insert))}
_TOTALS = Prepared(
    select(_p.c.subject_id, func.sum(_p.c.connections))
    .where(_p.c.kind == bindparam("kind"), _p.c.subject_id.in_(bindparam("ids", expanding=True)))
    .group_by(_p.c.subject_id)
)


async def add_connection(
    session: AsyncSession, *, server_id: str, kind: str, subject_id: int, merchant_id: int
) -> int:
    """Count one more socket here; the subject's total over all servers."""
    totals = await add_connections(
        session, server_id=server_id, kind=kind, counts={subject_id: (merchant_id, 1)}
    )
    return totals[subject_id]


async def add_connections(
    session: AsyncSession, *, server_id: str, kind: str, counts: dict[int, tuple[int, int]]
) -> dict[int, int]:
    """Count more sockets here ({subject id: (merchant id, sockets)}); each subject's total
    over all servers."""
    if not counts:
        return {}
    for subject_id in sorted(counts):  # one order everywhere: no deadlock between batches
        await lock_subject(session, kind=kind, subject_id=subject_id)
    await _COUNT_UP[session.get_bind().dialect.name].write_many(
        session,
        [
            {"server_id": server_id, "kind": kind, "subject_id": s, "merchant_id": m, "n": n}
            for s, (m, n) in sorted(counts.items())
        ],
    )
    rows = await _TOTALS.rows(session, {"kind": kind, "ids": list(counts)})
    return {subject_id: int(total) for subject_id, total in rows}


async def remove_connection(session: AsyncSession, *, server_id: str, kind: str, subject_id: int) -> int:
    """Count one socket less here; the subject's total over all servers."""
    await lock_subject(session, kind=kind, subject_id=subject_id)
    await session.execute(
        update(Presence)
        .where(
            Presence.server_id == server_id,
            Presence.kind == kind,
            Presence.subject_id == subject_id,
            Presence.connections > 0,
        )
        .values(connections=Presence.connections - 1)
    )
    await session.execute(
        delete(Presence).where(
            Presence.server_id == server_id,
            Presence.kind == kind,
            Presence.subject_id == subject_id,
            Presence.connections <= 0,
        )
    )
    return await total_connections(session, kind=kind, subject_id=subject_id)


async def total_connections(session: AsyncSession, *, kind: str, subject_id: int) -> int:
    rows = await _TOTALS.rows(session, {"kind": kind, "ids": [subject_id]})
    return next((int(total) for _, total in rows), 0)


async def start_grace(session: AsyncSession, *, agent_id: int, merchant_id: int, now: datetime) -> None:
    grace = (await accounts.get_settings(session, merchant_id=merchant_id)).grace_seconds
    await session.execute(
        update(AgentState)
        .where(AgentState.agent_id == agent_id)
        .values(grace_until=now + timedelta(seconds=grace))
    )


async def do_heartbeat(session: AsyncSession, *, server_id: str) -> bool:
    """Beat; False when this server's row was gone (another server took it for dead)."""
    now = utcnow()
    beat = await session.execute(
        update(ServerHeartbeat)
        .where(ServerHeartbeat.id == server_id)
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(beat, "rowcount", 0):
        await session.commit()
        return True
    insert = pg_insert if _is_postgres(session) else sqlite_insert
    stmt = insert(ServerHeartbeat).values(id=server_id, started_at=now, heartbeat_at=now)
    await session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now}))
    await session.commit()
    return False


async def do_restore(
    session: AsyncSession, *, server_id: str, present: Counter[tuple[str, int, int]]
) -> list[int]:
    """Count this server's live sockets again after it was swept for dead while alive; the
    visitors among them (their agents were told they left, and must hear they are back)."""
    for (kind, subject_id, merchant_id), n in sorted(present.items()):
        await lock_subject(session, kind=kind, subject_id=subject_id)
        await session.execute(
            delete(Presence).where(
                Presence.server_id == server_id, Presence.kind == kind, Presence.subject_id == subject_id
            )
        )
        session.add(
            Presence(
                server_id=server_id, kind=kind, subject_id=subject_id, merchant_id=merchant_id, connections=n
            )
        )
        if kind == AGENT:
            await session.execute(
                update(AgentState).where(AgentState.agent_id == subject_id).values(grace_until=None)
            )
        await session.flush()
    await session.commit()
    return sorted(subject_id for kind, subject_id, _ in present if kind == VISITOR)


@dataclass
class Swept:
    """What a sweep of dead servers found."""

    lonely_agents: list[tuple[int, int]] = field(default_factory=list)  # (agent, merchant): no socket left
    offline_visitors: list[int] = field(default_factory=list)  # no socket left anywhere
    merchants: set[int] = field(default_factory=set)  # who had sockets on the dead servers
    # The last sign of life of the dead servers (the oldest): what they changed after it may
    # never have been published.
    last_seen: datetime | None = None


async def do_sweep_dead_servers(
    session: AsyncSession, *, server_id: str, timeout: timedelta = HEARTBEAT_TIMEOUT
) -> Swept:
    """Forget the sockets of servers that stopped beating: the agents left with no socket
    start their grace period; the caller tells the agents of the visitors gone offline, and
    has frames the dead servers may have failed to publish made good (see Scheduler)."""
    now = utcnow()
    cutoff = now - timeout
    dead = (
        await session.scalars(
            select(ServerHeartbeat.id).where(
                ServerHeartbeat.id != server_id, ServerHeartbeat.heartbeat_at < cutoff
            )
        )
    ).all()
    # Deleting the heartbeat row is the claim: of several sweepers, one deletes it.
    gone: set[str] = set()
    seen: list[datetime] = []
    for dead_id in dead:
        claim = await session.scalar(
            delete(ServerHeartbeat)
            .where(ServerHeartbeat.id == dead_id, ServerHeartbeat.heartbeat_at < cutoff)
            .returning(ServerHeartbeat.heartbeat_at)
            .execution_options(synchronize_session=False)
        )
        if claim is not None:
            gone.add(dead_id)
            seen.append(claim)
    # Rows of servers that never beat at all (killed before their first beat) count as dead too.
    orphans = (
        await session.scalars(
            select(Presence.server_id)
            .where(Presence.server_id != server_id, Presence.server_id.not_in(select(ServerHeartbeat.id)))
            .distinct()
        )
    ).all()
    gone |= set(orphans)
    if orphans:
        seen.append(cutoff)
    if not gone:
        await session.commit()
        return Swept()
    subjects = (
        await session.execute(
            select(Presence.kind, Presence.subject_id).where(Presence.server_id.in_(gone)).distinct()
        )
    ).all()
    # Subject locks before row locks, as when sockets come and go; in one order, so that two
    # sweepers never wait on each other.
    for kind, subject_id in sorted(subjects):
        await lock_subject(session, kind=kind, subject_id=subject_id)
    # The rows this sweeper deleted are its own to handle, even when another sweeps too.
    rows = (
        await session.execute(
            delete(Presence)
            .where(Presence.server_id.in_(gone))
            .returning(Presence.kind, Presence.subject_id, Presence.merchant_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    swept = Swept(merchants={merchant_id for _, _, merchant_id in rows}, last_seen=min(seen))
    for kind, subject_id, merchant_id in sorted(set(rows)):
        if await total_connections(session, kind=kind, subject_id=subject_id):
            continue
        if kind == AGENT:
            await start_grace(session, agent_id=subject_id, merchant_id=merchant_id, now=now)
            swept.lonely_agents.append((subject_id, merchant_id))
        else:
            swept.offline_visitors.append(subject_id)
    await session.commit()
    return swept
