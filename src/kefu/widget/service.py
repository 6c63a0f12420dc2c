"""Queries for the widget's calls; they never commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.accounts.models import Merchant, MerchantSettings
from kefu.database.base import table, utcnow
from kefu.database.prepared import Prepared
from kefu.routing.service import serving, within_business_hours


class WidgetMerchant(NamedTuple):
    id: int
    name: str
    widget_key: str
    online: bool  # open for business and someone online or busy (see routing.can_serve_now)


_m, _s = table(Merchant), table(MerchantSettings)
_WIDGET_MERCHANTS = Prepared(
    select(_m.c.id, _m.c.name, _m.c.widget_key, _s.c.business_hours, _s.c.timezone, serving(_m.c.id))
    .outerjoin(_s, _s.c.merchant_id == _m.c.id)
    .where(_m.c.widget_key.in_(bindparam("keys", expanding=True)))
)


async def widget_merchants(session: AsyncSession, *, widget_keys: Iterable[str]) -> dict[str, WidgetMerchant]:
    """The merchants of these widget keys, by key (unknown keys are left out), each with
    whether anyone can serve its visitors now: all in one query."""
    now = utcnow()
    rows = await _WIDGET_MERCHANTS.rows(session, {"keys": list(set(widget_keys))})
    return {
        key: WidgetMerchant(
            merchant_id,
            name,
            key,
            bool(anyone) and hours is not None and within_business_hours(hours, timezone, now),
        )
        for merchant_id, name, key, hours, timezone, anyone in rows
    }
