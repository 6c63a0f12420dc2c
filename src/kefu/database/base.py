"""The declarative base, a UTC timestamp type and the mixins every table uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, cast

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData, Table, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


IntPK = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


def table(model: type[Base]) -> Table:
    """A mapped class's table, for prebuilt Core statements on hot paths."""
    return cast(Table, model.__table__)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MerchantScoped:
    """Every row a merchant owns carries its merchant id; queries filter on it."""

    @declared_attr
    def merchant_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
