"""Every error leaves the server as ``{"error": {"code", "message"}}`` with a 4xx/5xx status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from kefu.database.engine import database_unavailable, sqlstate
from kefu.exceptions import KefuError, ServiceUnavailable, pick_language

log = logging.getLogger("kefu")

_HTTP_CODES = {
    400: ("bad_request", "请求无效", "Bad request"),
    401: ("not_authenticated", "请先登录", "Please log in first"),
    403: ("permission_denied", "没有权限执行此操作", "You are not allowed to do this"),
    404: ("not_found", "页面或接口不存在", "Not found"),
    405: ("method_not_allowed", "不支持该请求方法", "Method not allowed"),
    413: ("payload_too_large", "请求内容过大", "Request body too large"),
    415: ("unsupported_media_type", "不支持的内容类型", "Unsupported media type"),
}


def _lang(request: Request) -> str:
    return pick_language(request.headers.get("accept-language"))


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def describe_validation(errors: list[Any], lang: str) -> tuple[str, list[dict[str, Any]]]:
    """A one-line message naming the first bad field, and the details for every one."""
    details = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": e.get("type"),
        }
        for e in errors
    ]
    if not details:
        return ("请求无效" if lang == "zh" else "Invalid request"), details
    first = details[0]
    if first["type"] == "json_invalid":
        return ("请求体不是有效的 JSON" if lang == "zh" else "The body is not valid JSON"), details
    field = ".".join(p for p in first["loc"] if p not in ("body", "query", "path")) or "body"
    if lang == "zh":
        return f"字段 {field} 无效：{first['msg']}", details
    return f"Invalid field {field}: {first['msg']}", details


RETRY_AFTER = "5"  # seconds: a failover or a burst is usually over by then


def install(app: FastAPI) -> None:
    @app.exception_handler(KefuError)
    async def _kefu(request: Request, exc: KefuError) -> JSONResponse:
        return JSONResponse(exc.payload(_lang(request)), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = describe_validation(list(exc.errors()), _lang(request))
        return _error(422, "invalid_input", message, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, zh, en = _HTTP_CODES.get(exc.status_code, ("error", "请求失败", "Request failed"))
        return _error(exc.status_code, code, en if _lang(request) == "en" else zh)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            return await _crash(request, exc)
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        payload = ServiceUnavailable().payload(_lang(request))
        return JSONResponse(payload, status_code=503, headers={"Retry-After": RETRY_AFTER})

    app.add_exception_handler(PoolTimeout, _unavailable)
    app.add_exception_handler(OSError, _unavailable)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if database_unavailable(exc):
            return await _unavailable(request, exc)
        # The last line of defence for input the schemas let through: the database refusing
        # a value (SQLSTATE class 22: NUL in text, out of range) is bad input, and a
        # constraint (class 23, e.g. two requests racing for one name) is a conflict.
        en = _lang(request) == "en"
        state = sqlstate(exc)
        if state.startswith("22"):
            log.warning("database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
            return _error(422, "invalid_input", "A value is not acceptable" if en else "请求中的值无效")
        if isinstance(exc, IntegrityError) or state.startswith("23"):
            log.warning("constraint failed on %s %s: %s", request.method, request.url.path, exc.orig)
            return _error(409, "conflict", "This conflicts with existing data" if en else "与现有数据冲突")
        return await _crash(request, exc)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # Also called for WebSockets, which have no method.
        log.exception("unhandled error on %s %s", getattr(request, "method", "WS"), request.url.path)
        en = _lang(request) == "en"
        return _error(500, "internal_error", "Internal server error" if en else "服务器内部错误")
