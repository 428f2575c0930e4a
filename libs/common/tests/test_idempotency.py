"""Idempotency-Key: replay, different body, in flight, scoped to the principal, remembered with the write."""


import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, Integer, String, Table, func, insert, select

from rectrack.common.auth import Principal
from rectrack.common.db import Database, make_metadata
from rectrack.common.errors import install_problem_handlers
from rectrack.common.idempotency import Idempotency, IdempotentRequest, define_idempotency_table
from rectrack.common.testing import create_postgres_database, drop_postgres_database, postgres_admin_url

metadata = make_metadata()
KEYS = define_idempotency_table(metadata)
THINGS = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))


class Thing(BaseModel):
    name: str


def build_app(db: Database, gate: asyncio.Event | None = None) -> FastAPI:
    idempotency = Idempotency(db, KEYS)
    app = FastAPI()
    install_problem_handlers(app)

    def principal(request: Request) -> Principal:
        return Principal(kind="body", subject="u", body_id=request.headers.get("X-Body", "a"))

    async def claim(request: Request, who: Annotated[Principal, Depends(principal)]
                    ) -> AsyncIterator[IdempotentRequest]:
        async for item in idempotency.guard(request, who):
            yield item

    @app.post("/things", status_code=201)
    async def create(thing: Thing, idem: Annotated[IdempotentRequest, Depends(claim)]) -> Any:
        if idem.replay:
            return idem.replay
        if gate is not None:
            await gate.wait()
        async with db.transaction() as session:
            result = await session.execute(insert(THINGS).values(name=thing.name))
            body = {"id": result.inserted_primary_key[0], "name": thing.name}
            await idem.complete(session, 201, body)
        return JSONResponse(body, status_code=201)

    return app


@pytest.fixture
async def db(database_backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    admin = postgres_admin_url()
    url = await create_postgres_database(admin) if database_backend == "postgresql" and admin else \
        f"sqlite+aiosqlite:///{tmp_path / 'idem.db'}"
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()
    if database_backend == "postgresql" and admin:
        await drop_postgres_database(admin, url)


async def count_things(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(THINGS))).scalar_one())


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_same_key_and_body_replays_the_first_answer(db: Database) -> None:
    async with client(build_app(db)) as http:
        first = await http.post("/things", json={"name": "x"}, headers={"Idempotency-Key": "k1"})
        second = await http.post("/things", json={"name": "x"}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await count_things(db) == 1


async def test_same_key_different_body_is_422(db: Database) -> None:
    async with client(build_app(db)) as http:
        await http.post("/things", json={"name": "x"}, headers={"Idempotency-Key": "k1"})
        other = await http.post("/things", json={"name": "y"}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "urn:rectrack:problem:idempotency-key-reused"
    assert await count_things(db) == 1


async def test_retry_while_first_in_flight_is_409(db: Database) -> None:
    gate = asyncio.Event()
    async with client(build_app(db, gate)) as http:
        first = asyncio.create_task(http.post("/things", json={"name": "x"}, headers={"Idempotency-Key": "k1"}))
        await asyncio.sleep(0.3)
        retry = await http.post("/things", json={"name": "x"}, headers={"Idempotency-Key": "k1"})
        gate.set()
        assert (await first).status_code == 201
    assert retry.status_code == 409
    assert retry.headers["Retry-After"] == "1"
    assert await count_things(db) == 1


async def test_keys_belong_to_their_principal(db: Database) -> None:
    async with client(build_app(db)) as http:
        a = await http.post("/things", json={"name": "x"}, headers={"Idempotency-Key": "k1", "X-Body": "a"})
        b = await http.post("/things", json={"name": "x"}, headers={"Idempotency-Key": "k1", "X-Body": "b"})
    assert a.json()["id"] != b.json()["id"]
    assert await count_things(db) == 2


async def test_failed_request_releases_its_key(db: Database) -> None:
    async with client(build_app(db)) as http:
        bad = await http.post("/things", json={"nom": "x"}, headers={"Idempotency-Key": "k1"})
        assert bad.status_code == 422
        good = await http.post("/things", json={"name": "x"}, headers={"Idempotency-Key": "k2"})
    assert good.status_code == 201
    assert await count_things(db) == 1
