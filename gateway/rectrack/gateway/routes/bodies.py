"""/api/v1/bodies: inspected bodies and their API keys.

Who may do what (the bodies service enforces the same again):
- reading bodies: any staff role reads every body; a body's principal sees only its own body, and any other
  body is 404 as if it did not exist (a list holds only its own body);
- creating, updating, deactivating bodies: administrators;
- API keys: staff read any body's key list; administrators create and revoke keys for any body; a body's own
  users (a body token) list, create and revoke their own body's keys; a request authenticated by an API key
  may list its body's keys but not create or revoke any (403), so a leaked key cannot mint more.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from rectrack.common.errors import Problem
from rectrack.gateway.auth import Caller, get_authenticator, is_api_key, require_admin, require_body_visible
from rectrack.gateway.clients.bodies import Bodies
from rectrack.gateway.openapi import PROBLEM_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["bodies"], responses=PROBLEM_RESPONSES)

BodyId = Annotated[str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=100, examples=["west-midlands-police"])]
KeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,64}$")]
IF_MATCH_DOC = {"parameters": [{"name": "If-Match", "in": "header", "required": False,
                                "schema": {"type": "string"}, "description": 'the version you read, e.g. "3"'}]}


def _json_body(example: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object"}, "example": example}}}}
    doc.update(extra or {})
    return doc


CONTACTS_EXAMPLE = [{"name": "Inspection Liaison Officer", "email": "liaison@new-force.example.org",
                     "role": "liaison"}]


def _forbid_key_management(principal: Any) -> None:
    if is_api_key(principal):
        raise Problem(403, "forbidden", "Forbidden", "an API key cannot manage API keys; use a user token")
    if principal.kind != "body":
        require_admin(principal, "API key management for a body")


@router.get("/bodies", summary="List bodies",
            description="Filters: `kind`, `region`, `status`, `q` (text in name, code or region); `limit` "
                        "(1-500, default 50) and `offset`. A body's principal gets only its own body.")
async def list_bodies(request: Request, principal: Caller, bodies: Bodies) -> Response:
    return await bodies.service.forward(request, principal, "/bodies")


@router.post("/bodies", status_code=201, summary="Create a body (admin)", tags=["staff"],
             openapi_extra=_json_body({"code": "new-force", "name": "New Force", "kind": "police_force",
                                       "region": "Wales", "contacts": CONTACTS_EXAMPLE,
                                       "webhook_url": "https://hooks.example.org/rectrack",
                                       "webhook_secret": "a-secret-of-16-or-more-chars"}))
async def create_body(request: Request, principal: Caller, bodies: Bodies) -> Response:
    require_admin(principal, "body creation")
    return await bodies.service.forward(request, principal, "/bodies")


@router.get("/bodies/{body_id}", summary="Read a body", description="The answer's ETag is its version.")
async def get_body(body_id: BodyId, request: Request, principal: Caller, bodies: Bodies) -> Response:
    require_body_visible(principal, body_id)
    return await bodies.service.forward(request, principal, f"/bodies/{body_id}")


@router.patch("/bodies/{body_id}", summary="Update a body (admin)", tags=["staff"],
              description="Send `If-Match: \"<version>\"` (or a `version` field); a stale version gets 412. "
                          "`webhook_secret` is write-only; `null` clears an optional field.",
              openapi_extra=_json_body({"region": "West Midlands", "contacts": CONTACTS_EXAMPLE}, IF_MATCH_DOC))
async def update_body(body_id: BodyId, request: Request, principal: Caller, bodies: Bodies) -> Response:
    require_body_visible(principal, body_id)
    require_admin(principal, "body changes")
    return await bodies.service.forward(request, principal, f"/bodies/{body_id}")


@router.post("/bodies/{body_id}/deactivate", summary="Mark a body merged or abolished (admin)", tags=["staff"],
             openapi_extra=_json_body({"status": "merged", "reason": "merged with a neighbouring force"},
                                      IF_MATCH_DOC))
async def deactivate_body(body_id: BodyId, request: Request, principal: Caller, bodies: Bodies) -> Response:
    require_body_visible(principal, body_id)
    require_admin(principal, "body deactivation")
    return await bodies.service.forward(request, principal, f"/bodies/{body_id}/deactivate")


@router.get("/bodies/{body_id}/api-keys", summary="List a body's API keys",
            description="Prefix, name, created, last used and revoked; never the secret.")
async def list_api_keys(body_id: BodyId, request: Request, principal: Caller, bodies: Bodies) -> Response:
    require_body_visible(principal, body_id)
    return await bodies.service.forward(request, principal, f"/bodies/{body_id}/api-keys")


@router.post("/bodies/{body_id}/api-keys", status_code=201, summary="Create an API key",
             description="The answer's `key` is the only time the secret is shown: store it now. "
                         "Send it as `X-API-Key: rtk_...`.",
             openapi_extra=_json_body({"name": "case management system"}))
async def create_api_key(body_id: BodyId, request: Request, principal: Caller, bodies: Bodies) -> Response:
    require_body_visible(principal, body_id)
    _forbid_key_management(principal)
    return await bodies.service.forward(request, principal, f"/bodies/{body_id}/api-keys")


@router.delete("/bodies/{body_id}/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_api_key(body_id: BodyId, key_id: KeyId, request: Request, principal: Caller,
                         bodies: Bodies) -> Response:
    require_body_visible(principal, body_id)
    _forbid_key_management(principal)
    response = await bodies.service.forward(request, principal, f"/bodies/{body_id}/api-keys/{key_id}")
    if response.status_code < 300:
        get_authenticator(request).forget_key(key_id)
    return response
