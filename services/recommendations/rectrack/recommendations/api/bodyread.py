"""Reading request bodies with a cap, and parsing JSON bodies into models with problem+json errors."""

from __future__ import annotations

import json
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from rectrack.common.errors import Problem

M = TypeVar("M", bound=BaseModel)


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The whole body, refusing (413) as soon as it passes max_bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large(max_bytes)
    return bytes(body)


def too_large(max_bytes: int) -> Problem:
    """The answer for a body past its limit."""
    return Problem(413, "payload-too-large", "Payload too large", f"the request body is larger than {max_bytes} bytes",
                   max_bytes=max_bytes)


def parse_model(model: type[M], raw: bytes) -> M:
    """Validate a JSON body against a model; 400 for malformed JSON, 422 listing the errors."""
    try:
        document = json.loads(raw or b"null")
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "malformed-json", "Malformed JSON", "the request body is not valid JSON") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise Problem(422, "validation", "Invalid request", "the request does not meet the schema",
                      errors=errors) from None


def media_type(request: Request) -> str:
    """The request's media type without parameters, lower-cased."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
