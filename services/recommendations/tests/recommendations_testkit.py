"""Helpers for the recommendations service tests: principals, seeded bodies, a per-test database copied from
a template migrated once per backend, and a small client wrapper that signs principals as the gateway does."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from rectrack.common.auth import PRINCIPAL_HEADER, InternalSigner, Principal
from rectrack.common.db import run_migrations
from rectrack.common.events.envelope import Envelope
from rectrack.common.testing import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from rectrack.recommendations.bodies import apply_body_event
from rectrack.recommendations.config import RecommendationsSettings

MIGRATIONS = Path(__file__).resolve().parents[1] / "rectrack" / "recommendations" / "migrations"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

INSPECTOR = Principal(kind="staff", subject="ida", name="Ida Inspector", role="inspector")
ADMIN = Principal(kind="staff", subject="ada", name="Ada Admin", role="admin")
VIEWER = Principal(kind="staff", subject="vic", name="Vic Viewer", role="viewer")


def body_principal(code: str) -> Principal:
    """A user of one body."""
    return Principal(kind="body", subject=f"{code}-user", name=f"{code} liaison", body_id=code)


FORCE_A, FORCE_B, FORCE_C = body_principal("force-a"), body_principal("force-b"), body_principal("force-c")

DEFAULT_BODIES = [
    ("force-a", "Force A Police", "police_force", "north", "active"),
    ("force-b", "Force B Police", "police_force", "south", "active"),
    ("force-c", "Force C Fire", "fire_and_rescue_service", "north", "active"),
    ("gone-police", "Gone Police", "police_force", "south", "abolished"),
]


def body_event(code: str, name: str, kind: str, region: str | None, status: str, version: int = 1,
               event_type: str = "body.created") -> Envelope:
    """A body.* envelope as the bodies service would publish it."""
    data = {"id": code, "code": code, "name": name, "kind": kind, "region": region, "status": status,
            "version": version, "contacts": []}
    return Envelope(type=event_type, source="bodies", subject=code, data=data)


class DatabaseTemplates:
    """One migrated database per backend, copied for every test (migrating each time would be slow)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.made: dict[str, str] = {}

    def get(self, backend: str) -> str:
        if backend not in self.made:
            if backend == "sqlite":
                path = self.workdir / "template.sqlite"
                run_migrations(MIGRATIONS, f"sqlite+aiosqlite:///{path}")
                self.made[backend] = str(path)
            else:
                url = asyncio.run(create_postgres_database(postgres_admin_url() or "", prefix="rectrack_tpl"))
                run_migrations(MIGRATIONS, url)
                self.made[backend] = url
        return self.made[backend]

    def cleanup(self) -> None:
        admin = postgres_admin_url()
        if admin and "postgresql" in self.made:
            asyncio.run(drop_postgres_database(admin, self.made["postgresql"]))


async def fresh_database(backend: str, templates: DatabaseTemplates, workdir: Path) -> str:
    """A migrated database of its own for one test."""
    template = await asyncio.to_thread(templates.get, backend)  # migrations run their own event loop
    if backend == "sqlite":
        path = workdir / "recommendations.sqlite"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    return await create_postgres_database(postgres_admin_url() or "", template=make_url(template).database)


@dataclass
class Service:
    """The service app under test and a client to it, with principals signed as the gateway would."""

    app: FastAPI
    client: httpx.AsyncClient
    signer: InternalSigner
    settings: RecommendationsSettings
    url: str

    def headers(self, principal: Principal, **extra: str) -> dict[str, str]:
        return {PRINCIPAL_HEADER: self.signer.sign(principal), **extra}

    async def get(self, path: str, who: Principal, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers=self.headers(who, **kw.pop("headers", {})), **kw)

    async def post(self, path: str, who: Principal, **kw: Any) -> httpx.Response:
        return await self.client.post(path, headers=self.headers(who, **kw.pop("headers", {})), **kw)

    async def seed_bodies(self, bodies: list[tuple[str, str, str, str | None, str]] = DEFAULT_BODIES) -> None:
        """Feed the bodies read model through its event handler (the NATS path has its own test)."""
        runtime = self.app.state.runtime
        for code, name, kind, region, status in bodies:
            async with runtime.db.transaction() as session:
                await apply_body_event(session, body_event(code, name, kind, region, status))

    async def report(self, title: str = "PEEL 2025", **extra: Any) -> dict[str, Any]:
        response = await self.post("/reports", INSPECTOR, json={"title": title, "kind": "peel", "level": "local",
                                                                "published_on": "2025-03-01",
                                                                "url": "https://example.org/r", **extra})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def recommend(self, report_id: str, bodies: list[str], *, issue: bool = True, reference: str = "R1",
                        **extra: Any) -> list[dict[str, Any]]:
        body = {"report_id": report_id, "kind": "recommendation", "reference": reference,
                "title": "Improve the response to domestic abuse", "text": "The force should ...",
                "themes": ["domestic-abuse", "vulnerability"], "priority": "high", "benefits": "Safer victims",
                "risks": "Harm continues", "closure_criteria": "Audit shows ...", "due_date": "2030-06-30",
                "owner": "ida", "recipient_body_ids": bodies, "issue": issue, **extra}
        response = await self.post("/recommendations", INSPECTOR, json=body)
        assert response.status_code == 201, response.text
        return response.json()["items"]  # type: ignore[no-any-return]

    async def act(self, rec_id: str, who: Principal, action: str, **extra: Any) -> httpx.Response:
        headers = extra.pop("headers", {})
        return await self.post(f"/recommendations/{rec_id}/transitions", who, json={"action": action, **extra},
                               headers=headers)
