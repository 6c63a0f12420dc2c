"""The error tree; each error maps to one HTTP status and a snake_case code.

    KefuError (400)
    ├── InvalidInput (422)          bad values the schema could not catch
    ├── NotAuthenticated (401)      no or expired token
    ├── PermissionDenied (403)      a role check failed inside one's own merchant
    ├── NotFound (404)              missing, or belongs to another merchant
    ├── Conflict (409)              the state forbids it (already rated, duplicate name, ...)
    ├── TooManyRequests (429)       rate limited
    └── ServiceUnavailable (503)    the database cannot serve us now; try again shortly

Messages are kept in Simplified Chinese and English; the client's Accept-Language picks one.
"""

from __future__ import annotations

from typing import Any, ClassVar


class KefuError(Exception):
    status_code: ClassVar[int] = 400
    code: str = "bad_request"

    def __init__(self, zh: str, en: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en
        if code:
            self.code = code
        self.extra = extra

    def message(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh

    def payload(self, lang: str = "zh") -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message(lang), **self.extra}}


class InvalidInput(KefuError):
    status_code = 422
    code = "invalid_input"


class NotAuthenticated(KefuError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self) -> None:
        super().__init__("请先登录", "Please log in first")


class PermissionDenied(KefuError):
    status_code = 403
    code = "permission_denied"

    def __init__(self) -> None:
        super().__init__("没有权限执行此操作", "You are not allowed to do this")


class NotFound(KefuError):
    status_code = 404
    code = "not_found"

    def __init__(self, what_zh: str = "对象", what_en: str = "Object") -> None:
        super().__init__(f"{what_zh}不存在", f"{what_en} not found")


class Conflict(KefuError):
    status_code = 409
    code = "conflict"


class TooManyRequests(KefuError):
    status_code = 429
    code = "too_many_requests"


class ServiceUnavailable(KefuError):
    status_code = 503
    code = "service_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "服务暂时不可用，请稍后重试", "The service is temporarily unavailable; please try again shortly"
        )


def pick_language(accept_language: str | None) -> str:
    """``en`` when the client prefers English, otherwise ``zh`` (our users' language)."""
    if not accept_language:
        return "zh"
    first = accept_language.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"
