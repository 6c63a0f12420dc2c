"""The ``kefu`` command: serve, db upgrade, merchant create, operator create, demo."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
import uvicorn

from kefu.config import DEMO_SECRET_KEY, ConfigError, Settings, get_settings

app = typer.Typer(help="kefu — self-hosted online customer service (客服).", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
merchant_app = typer.Typer(help="Merchant (tenant) commands.", no_args_is_help=True)
operator_app = typer.Typer(help="Platform operator accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(merchant_app, name="merchant")
app.add_typer(operator_app, name="operator")

T = TypeVar("T")
GC_THRESHOLDS = (50_000, 20, 100)  # Python's default: (700, 10, 10)
Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.")]


def _settings() -> Settings:
    settings = get_settings()
    try:
        settings.require_secret_key()
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    return settings


def _with_db(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(session)`` on a migrated database, then close it."""
    from kefu.database.engine import Database
    from kefu.database.migrate import upgrade

    async def main() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.sqlalchemy_url)
        try:
            await upgrade(db.engine, uploads_dir=settings.uploads_dir)
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def _tune_gc() -> None:
    """A server keeps many objects for long (sockets, statements, the code itself), and
    Python's cyclic collector, by default run every 700 allocations, walks them again and
    again: freeze what exists at start (the imported code) out of every pass, and collect the
    young generation less often. Measured in docs/benchmarks.md."""
    import kefu.main  # noqa: F401 - imported now, so that its objects are frozen

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _serve(host: str, port: int) -> None:
    _tune_gc()
    uvicorn.run(
        "kefu.main:create_app",
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        # Chat frames are small: compressing each costs more CPU than the bytes it saves.
        ws_per_message_deflate=False,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        log_level=os.environ.get("KEFU_LOG_LEVEL", "info"),
    )


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Run the server: HTTP API, WebSockets, the web UI and the widget."""
    _settings()
    _serve(host, port)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    settings = _settings()

    async def nothing(_session: Any) -> None:
        return None

    _with_db(settings, nothing)
    typer.echo("database is up to date")


@merchant_app.command("create")
def merchant_create(
    name: Annotated[str, typer.Option("--name", help="The merchant's name.")],
    admin: Annotated[str, typer.Option("--admin", help="Login name of its first admin.")],
    password: Annotated[str, typer.Option("--password", help="The admin's password (8+).")],
) -> None:
    """Create a merchant and its first admin; print JSON with merchant_id and widget_key."""
    from pydantic import ValidationError

    from kefu.accounts.actions import do_create_merchant
    from kefu.accounts.schemas import MerchantIn
    from kefu.exceptions import KefuError

    settings = _settings()
    try:
        data = MerchantIn(name=name, admin_username=admin, admin_password=password)
    except ValidationError as exc:
        typer.secho(f"error: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", fg="red", err=True)
        raise typer.Exit(2) from exc

    async def create(session: Any) -> Any:
        return await do_create_merchant(
            session,
            name=data.name,
            admin_username=data.admin_username,
            admin_password=data.admin_password,
        )

    try:
        created = _with_db(settings, create)
    except KefuError as exc:
        typer.secho(f"error: {exc.en}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(created.model_dump_json())


@operator_app.command("create")
def operator_create(
    username: Annotated[str, typer.Option("--username")],
    password: Annotated[str, typer.Option("--password")],
) -> None:
    """Create a platform operator, who can create merchants through the API."""
    from kefu.accounts.actions import do_create_operator
    from kefu.exceptions import KefuError

    settings = _settings()

    async def create(session: Any) -> Any:
        return await do_create_operator(session, username=username, password=password)

    try:
        user = _with_db(settings, create)
    except KefuError as exc:
        typer.secho(f"error: {exc.en}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"id": user.id, "username": user.username}))


@app.command()
def demo(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Fill an empty data dir with a demo merchant, print the logins, then serve."""
    from kefu.demo import seed_demo

    os.environ.setdefault("KEFU_SECRET_KEY", DEMO_SECRET_KEY)
    get_settings.cache_clear()
    settings = _settings()
    from kefu.exceptions import KefuError

    try:
        logins = _with_db(settings, lambda session: seed_demo(session, settings.data_dir))
    except KefuError as exc:
        typer.secho(f"error: {exc.en}", fg="red", err=True)
        raise typer.Exit(1) from exc
    url = f"http://{host}:{port}"
    typer.secho("\nkefu demo — 演示商家已就绪\n", fg="green", bold=True)
    typer.echo(f"  工作台 / workspace:   {url}/")
    typer.echo(f"  演示商城 / demo shop: {url}/demo/shop")
    typer.echo("")
    for login in logins:
        typer.echo(f"  {login['role']:<6} {login['username']:<10} 密码/password: {login['password']}")
    typer.echo("")
    sys.stdout.flush()
    _serve(host, port)
