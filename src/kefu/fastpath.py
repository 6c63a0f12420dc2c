"""Plain Starlette routes for the hottest calls, answering exactly as their FastAPI routes would.

FastAPI's request machinery (its middleware, route matching, dependency solving, response
validation) costs more server time than a whole batched widget session. A lean route reads
the JSON body with the same pydantic model and by FastAPI's rules (the content type, the JSON
error, the 422 details under ``body``), raises the same exceptions, which the app's handlers
(kefu.errors) answer as for any route, and is registered ahead of its FastAPI route, which
stays in the OpenAPI document. tests/test_fastpath.py sends both the same bad requests.
"""

from __future__ import annotations

import email.message
import json
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request, model: type[M]) -> M:
    """The JSON body as ``model``; else the RequestValidationError (422) or the 400 that
    FastAPI raises for a body parameter of that model."""
    try:
        raw = await request.body()
        body: Any = raw or None  # no body: the field is missing
        if raw and _is_json(request.headers.get("content-type")):
            body = json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=exc.doc) from exc
    except HTTPException:  # the body is too large (BodyLimit)
        raise
    except Exception as exc:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc
    if body is None and not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        return model.model_validate(body, from_attributes=True)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=body) from exc


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this content type as JSON (a missing one: no)."""
    if content_type is None:
        return False
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def json_response(out: BaseModel, status_code: int = 200) -> Response:
    """``out`` as FastAPI's response for a route returning that model."""
    return Response(out.__pydantic_serializer__.to_json(out), status_code, media_type="application/json")
