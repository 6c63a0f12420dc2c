"""Merchants (platform operator), the own merchant, and its settings."""

from __future__ import annotations

from fastapi import APIRouter

from kefu.accounts import actions, service
from kefu.accounts.schemas import (
    MerchantAdminView,
    MerchantCreated,
    MerchantIn,
    MerchantOut,
    SettingsOut,
    SettingsPatch,
)
from kefu.auth.access import AdminActor, MerchantActor, PlatformActor
from kefu.database.session import SessionDep
from kefu.exceptions import NotFound
from kefu.schemas import Limit, Offset, Page

router = APIRouter(tags=["merchants"])


@router.post("/merchants", status_code=201)
async def create_merchant(body: MerchantIn, actor: PlatformActor, session: SessionDep) -> MerchantCreated:
    return await actions.do_create_merchant(
        session,
        name=body.name,
        admin_username=body.admin_username,
        admin_password=body.admin_password,
        admin_nickname=body.admin_nickname,
    )


@router.get("/merchants")
async def list_merchants(
    actor: PlatformActor, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[MerchantOut]:
    rows, total = await service.list_all(session, limit=limit, offset=offset)
    return Page(items=[MerchantOut.model_validate(m) for m in rows], total=total)


@router.get("/merchant")
async def own_merchant(actor: AdminActor, session: SessionDep) -> MerchantAdminView:
    merchant = await service.get(session, merchant_id=actor.merchant_id)
    if merchant is None:
        raise NotFound("商家", "Merchant")
    return MerchantAdminView.model_validate(merchant)


@router.get("/settings")
async def read_settings(actor: MerchantActor, session: SessionDep) -> SettingsOut:
    return SettingsOut.model_validate(await service.get_settings(session, merchant_id=actor.merchant_id))


@router.patch("/settings")
async def change_settings(body: SettingsPatch, actor: AdminActor, session: SessionDep) -> SettingsOut:
    settings = await actions.do_update_settings(session, merchant_id=actor.merchant_id, patch=body)
    return SettingsOut.model_validate(settings)
