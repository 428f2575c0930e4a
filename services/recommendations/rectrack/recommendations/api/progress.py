"""Routes: progress updates (JSON, or multipart with evidence files streamed to storage) and evidence downloads."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from rectrack.common.app import CurrentPrincipal, IdempotencyKey, Runtime
from rectrack.common.errors import Problem, not_found
from rectrack.recommendations.access import load_visible
from rectrack.recommendations.api.bodyread import media_type, parse_model, read_capped
from rectrack.recommendations.api.deps import Context
from rectrack.recommendations.progress import add_progress, check_may_post, get_evidence, list_progress
from rectrack.recommendations.schemas import ProgressIn
from rectrack.recommendations.storage import BlobNotFound
from rectrack.recommendations.uploads import UploadedFile, discard, parse_streaming

router = APIRouter(tags=["progress"])


def _progress_from_fields(fields: dict[str, str]) -> ProgressIn:
    try:
        return ProgressIn(narrative=fields.get("narrative", ""), rag=fields.get("rag") or None)  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise Problem(422, "validation", "Invalid request", "the progress update does not meet the schema",
                      errors=errors) from None


@router.post("/recommendations/{recommendation_id}/progress", status_code=status.HTTP_201_CREATED,
             summary="Post progress: JSON {narrative, rag}, or multipart narrative, rag and files")
async def post_progress(recommendation_id: str, request: Request, runtime: Runtime, ctx: Context,
                        principal: CurrentPrincipal, idempotency: IdempotencyKey) -> Any:
    if idempotency.replay:
        return idempotency.replay
    settings = ctx.settings
    kind = media_type(request)
    if kind not in ("application/json", "multipart/form-data"):
        raise Problem(415, "unsupported-media-type", "Unsupported media type",
                      "send progress as application/json or multipart/form-data")
    # Refuse before reading a byte of the upload: not yours (404), viewer (403) or wrong state (409).
    async with runtime.db.read() as session:
        check_may_post(await load_visible(session, recommendation_id, principal), principal)
    files: list[UploadedFile] = []
    field_cap = settings.narrative_max_chars * 4 + 4096
    try:
        if kind == "multipart/form-data":
            parsed = await parse_streaming(request.stream(), request.headers["content-type"], storage=ctx.storage,
                                           max_file_bytes=settings.evidence_max_bytes,
                                           max_files=settings.evidence_max_files, max_field_bytes=field_cap)
            files = parsed.files
            data = _progress_from_fields(parsed.fields)
        else:
            data = parse_model(ProgressIn, await read_capped(request, field_cap))
        if len(data.narrative) > settings.narrative_max_chars:
            raise Problem(422, "validation", "Invalid request", "the narrative is too long",
                          errors=[{"loc": ["narrative"], "msg": f"at most {settings.narrative_max_chars} characters",
                                   "type": "string_too_long"}])
        async with runtime.db.transaction() as session:
            answer = await add_progress(session, outbox=runtime.outbox, recommendation_id=recommendation_id,
                                        narrative=data.narrative, rag=data.rag, files=files, actor=principal,
                                        now=ctx.clock.now())
            await idempotency.complete(session, 201, answer)
        return answer
    except BaseException:
        await discard(ctx.storage, files)  # no metadata row will point at them
        raise


@router.get("/recommendations/{recommendation_id}/progress", summary="Progress updates with their evidence")
async def get_progress(recommendation_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict[str, Any]:
    async with runtime.db.read() as session:
        items = await list_progress(session, recommendation_id=recommendation_id, principal=principal)
    return {"items": items, "total": len(items)}


def content_disposition(filename: str) -> str:
    """An attachment header with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "evidence"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/recommendations/{recommendation_id}/evidence/{evidence_id}", summary="Download an evidence file",
            response_class=StreamingResponse)
async def download_evidence(recommendation_id: str, evidence_id: str, runtime: Runtime, ctx: Context,
                            principal: CurrentPrincipal) -> StreamingResponse:
    async with runtime.db.read() as session:
        ev = await get_evidence(session, recommendation_id=recommendation_id, evidence_id=evidence_id,
                                principal=principal)
    try:
        chunks = await ctx.storage.open(ev.storage_key)
    except BlobNotFound:
        raise not_found("evidence file") from None
    headers = {"Content-Disposition": content_disposition(ev.filename), "Content-Length": str(ev.size),
               "X-Content-Type-Options": "nosniff", "ETag": f'"{ev.sha256}"', "Cache-Control": "private, no-store",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    return StreamingResponse(chunks, media_type=ev.media_type, headers=headers)
