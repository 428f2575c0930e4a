"""The gateway's contract: schemathesis against its OpenAPI (no 5xx, answers conform to the schema) with a staff
and a body token, over real HTTP to a gateway in front of the real services; every route documented (tags,
summary, problem+json errors); real objects' answers (which random ids never reach) match their documented
status, media type and schema; Idempotency-Key forwarded to the service (replay, different body 422)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from gateway_testkit import BODY_A, BODY_B, PDF, Services, ThreadedServer, api_routes, bearer, start_services
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rectrack.common.errors import PROBLEM_MEDIA_TYPE
from rectrack.gateway.config import GatewaySettings
from rectrack.gateway.main import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# Per operation and per principal; with ~35 operations this keeps the module well under two minutes.
MAX_EXAMPLES = 10


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        running = start_services(tmp_path_factory.mktemp("contract"), monkeypatch)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def gateway_url(services: Services) -> Iterator[str]:
    """The gateway over real HTTP (uvicorn), rate limit off: schemathesis sends many requests quickly."""
    server = ThreadedServer(create_app(services.gateway_settings(), services.platform)).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def credentials(services: Services) -> dict[str, dict[str, str]]:
    return {"staff": bearer(services.platform, "admin", subject="fuzz-admin"),
            "body": bearer(services.platform, "body", BODY_A, subject="fuzz-body")}


# The spec comes from the app object at collection (what /openapi.json serves); schemathesis' lazy
# `from_fixture` loader does not run on pytest 9 (it sets the private Function._nodeid).
schema = schemathesis.openapi.from_dict(create_app(GatewaySettings()).openapi())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_gateway_keeps_its_contract_for_staff(case: schemathesis.Case, gateway_url: str,
                                                  credentials: dict[str, dict[str, str]]) -> None:
    case.call_and_validate(base_url=gateway_url, headers=credentials["staff"], checks=CHECKS)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_gateway_keeps_its_contract_for_a_body(case: schemathesis.Case, gateway_url: str,
                                                   credentials: dict[str, dict[str, str]]) -> None:
    case.call_and_validate(base_url=gateway_url, headers=credentials["body"], checks=CHECKS)


def test_every_route_is_tagged_summarised_and_documents_its_problems() -> None:
    app = create_app(GatewaySettings())
    spec = app.openapi()
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]
    faults = []
    for path, methods, route in api_routes(app):
        for method in methods:
            where = f"{method} {path}"
            tags = set(route.tags)
            if path.startswith("/api/"):
                if not tags & {"bodies", "staff"}:
                    faults.append(f"{where}: tag it 'bodies' (bodies' systems use it) or 'staff' (staff only)")
                documented = spec["paths"][path][method.lower()]["responses"]
                for status in ("401", "404", "422", "429"):
                    content = documented.get(status, {}).get("content", {})
                    if PROBLEM_MEDIA_TYPE not in content:
                        faults.append(f"{where}: no problem+json {status} documented")
            elif tags != {"health"}:
                faults.append(f"{where}: outside /api/ only health routes")
            if not route.summary:
                faults.append(f"{where}: no summary")
    assert not faults, "\n".join(faults)


def conforms(response: httpx.Response, template: str, status: int) -> Any:
    """Assert the answer has the expected status, documented with its media type and required headers, and that
    it meets its schema."""
    request = response.request
    assert response.status_code == status, (request.method, str(request.url), response.status_code, response.text[:500])
    documented = schema.raw_schema["paths"][template][request.method.lower()]["responses"]
    assert str(status) in documented, (request.method, template, status, "status not documented")
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type in documented[str(status)].get("content", {}), (request.method, template, media_type)
    for name, header in documented[str(status)].get("headers", {}).items():
        assert not header.get("required") or name in response.headers, (request.method, template, name)
    request.read()  # a multipart upload was streamed; the validator looks at the request too
    schema[template][request.method].validate_response(response)
    return response.json() if media_type.endswith("json") else response.content


def test_real_answers_match_the_documented_schemas(gateway_url: str, services: Services) -> None:
    """Every route on real objects: a report, an import, a recommendation with progress, evidence, an extension.

    Body B's: the fuzzing above may have deactivated body A (its id is the spec's example) as an administrator."""
    staff = bearer(services.platform, "inspector", subject="contract-inspector")
    owner = bearer(services.platform, "body", BODY_B, subject="contract-body")
    rec_path = "/api/v1/recommendations/{recommendation_id}"
    with httpx.Client(base_url=gateway_url, timeout=10) as client:
        report = conforms(client.post("/api/v1/reports", headers=staff, json={
            "title": "Contract report", "kind": "thematic", "level": "national", "published_on": "2025-01-31",
            "url": "https://example.org/report"}), "/api/v1/reports", 201)
        conforms(client.get("/api/v1/reports", params={"kind": "thematic"}, headers=owner), "/api/v1/reports", 200)
        conforms(client.get(f"/api/v1/reports/{report['id']}", headers=owner), "/api/v1/reports/{report_id}", 200)
        doc = {"report_id": report["id"], "reference": "C-1", "title": "Contract one", "text": "Do it",
               "themes": ["custody"], "due_date": (date.today() + timedelta(days=30)).isoformat(),
               "recipient_body_ids": [BODY_B], "issue": True}
        deadline = time.monotonic() + 20
        while True:  # the recommendations service learns the demo bodies from their events
            created = client.post("/api/v1/recommendations", json=doc, headers=staff)
            if created.status_code != 422 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        [rec] = conforms(created, "/api/v1/recommendations", 201)["items"]
        rid = rec["id"]
        csv = f"reference,title,text,recipient_body_ids\nC-2,Contract two,Do that,{BODY_B}\n"
        conforms(client.post(f"/api/v1/reports/{report['id']}/recommendations/import", content=csv,
                             headers={**staff, "Content-Type": "text/csv"}),
                 "/api/v1/reports/{report_id}/recommendations/import", 201)
        conforms(client.get(f"/api/v1/recommendations/{rid}", headers=owner), rec_path, 200)
        conforms(client.post(f"/api/v1/recommendations/{rid}/transitions", json={"action": "start"},
                             headers={**owner, "If-Match": f'"{rec["version"]}"'}), rec_path + "/transitions", 200)
        progress = conforms(client.post(f"/api/v1/recommendations/{rid}/progress", headers=owner,
                                        data={"narrative": "Done half", "rag": "amber"},
                                        files=[("files", ("plan.pdf", PDF, "application/pdf"))]),
                            rec_path + "/progress", 201)
        conforms(client.post(f"/api/v1/recommendations/{rid}/progress", json={"narrative": "More"}, headers=owner),
                 rec_path + "/progress", 201)
        conforms(client.get(f"/api/v1/recommendations/{rid}/progress", headers=owner), rec_path + "/progress", 200)
        evidence_id = progress["evidence"][0]["id"]
        assert conforms(client.get(f"/api/v1/recommendations/{rid}/evidence/{evidence_id}", headers=owner),
                        rec_path + "/evidence/{evidence_id}", 200) == PDF
        extension = conforms(client.post(f"/api/v1/recommendations/{rid}/extension-requests", headers=owner, json={
            "proposed_due_date": (date.today() + timedelta(days=90)).isoformat(), "reason": "Supplier delay"}),
            rec_path + "/extension-requests", 201)
        conforms(client.get(f"/api/v1/recommendations/{rid}/extension-requests", headers=owner),
                 rec_path + "/extension-requests", 200)
        conforms(client.post(f"/api/v1/recommendations/{rid}/extension-requests/{extension['id']}/decision",
                             json={"granted": True, "reason": "Fair"}, headers=staff),
                 rec_path + "/extension-requests/{request_id}/decision", 200)
        conforms(client.get(f"/api/v1/recommendations/{rid}/history", headers=owner), rec_path + "/history", 200)
        conforms(client.get(f"/api/v1/recommendations/groups/{rec['group_id']}", headers=owner),
                 "/api/v1/recommendations/groups/{group_id}", 200)
        for who in (owner, staff):
            page = conforms(client.get("/api/v1/recommendations", params={"body_id": BODY_B, "state": "in_progress"},
                                       headers=who), "/api/v1/recommendations", 200)
            assert rid in [item["id"] for item in page["items"]]
            conforms(client.get("/api/v1/recommendations/summary", headers=who), "/api/v1/recommendations/summary",
                     200)
            assert b"C-1" in conforms(client.get("/api/v1/recommendations/export.csv", headers=who),
                                      "/api/v1/recommendations/export.csv", 200)
        deadline = time.monotonic() + 20
        while not (inbox := conforms(client.get("/api/v1/notifications", headers=owner),
                                     "/api/v1/notifications", 200))["items"] and time.monotonic() < deadline:
            time.sleep(0.2)
        conforms(client.post(f"/api/v1/notifications/{inbox['items'][0]['id']}/read", headers=owner),
                 "/api/v1/notifications/{notification_id}/read", 200)
        conforms(client.post("/api/v1/notifications/read-all", headers=owner), "/api/v1/notifications/read-all", 200)
        log = conforms(client.get("/api/v1/notifications/deliveries", params={"body_id": BODY_B}, headers=staff),
                       "/api/v1/notifications/deliveries", 200)
        conforms(client.get(f"/api/v1/notifications/deliveries/{log['items'][0]['id']}", headers=staff),
                 "/api/v1/notifications/deliveries/{delivery_id}", 200)


def test_out_of_range_or_unsendable_input_is_a_problem_not_a_500(gateway_url: str, services: Services) -> None:
    """A huge offset is 422 (it once overflowed the database's integer: 500); a header value the gateway cannot
    pass on (not ASCII) is 400 (it once failed as a 500 when the gateway built the downstream request)."""
    staff = bearer(services.platform, "admin", subject="edge-admin")
    huge = str(2**70)
    with httpx.Client(base_url=gateway_url, headers=staff) as client:
        for path in ("/api/v1/reports", "/api/v1/recommendations", "/api/v1/notifications",
                     "/api/v1/notifications/deliveries", "/api/v1/bodies"):
            response = client.get(path, params={"offset": huge})
            assert response.status_code == 422, (path, response.status_code, response.text[:300])
        report = {"title": "Edge", "kind": "thematic", "level": "national"}
        for name, value in (("If-Match", "\xe9"), ("Idempotency-Key", "cl\xe9"),
                            ("Content-Type", "application/json; x=\xe9")):
            for method, path in (("POST", "/api/v1/reports"), ("PATCH", f"/api/v1/bodies/{BODY_A}"),
                                 ("POST", "/api/v1/recommendations/no-such-one/progress")):
                response = client.request(method, path, json=report, headers={name.encode(): value.encode("latin-1")})
                assert response.status_code == 400, (name, path, response.status_code, response.text[:300])
                assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
                assert response.json()["type"] == "urn:rectrack:problem:bad-header"


def test_idempotency_key_is_forwarded(gateway_url: str, services: Services) -> None:
    staff = bearer(services.platform, "inspector", subject="idempotent-inspector")
    key = {"Idempotency-Key": f"report-{uuid.uuid4().hex}"}
    doc = {"title": f"Idempotent {uuid.uuid4().hex[:6]}", "kind": "thematic", "level": "national"}
    with httpx.Client(base_url=gateway_url, headers=staff) as client:
        first = client.post("/api/v1/reports", json=doc, headers=key)
        again = client.post("/api/v1/reports", json=doc, headers=key)
        different = client.post("/api/v1/reports", json={**doc, "title": "Another"}, headers=key)
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"], again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert different.status_code == 422 and different.headers["content-type"] == PROBLEM_MEDIA_TYPE
