"""Cost follows change: every candidate query of a pass is a range probe on the partial index of open
recommendations by (escalation_level, due_date), never a scan of the table, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from escalation_testkit import DAYS, pass_on
from recommendations_testkit import DatabaseTemplates, fresh_database
from sqlalchemy import text

from rectrack.common.db import Database
from rectrack.common.testing import discard_database
from rectrack.recommendations.escalation import candidates_query, probes
from rectrack.recommendations.escalation_bench import BENCH_DAY, fill

INDEX = "ix_recommendations_open_escalation_due"


async def plans(db: Database, day: object) -> list[str]:
    """The query plan of every candidate probe of a pass on `day`, as the pass runs it."""
    found = []
    async with db.read() as session:
        for probe in probes(day, DAYS):  # type: ignore[arg-type]
            query = candidates_query(probe, limit=1000, lock=not db.sqlite)
            sql = str(query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
            explain = "EXPLAIN QUERY PLAN " if db.sqlite else "EXPLAIN "
            rows = (await session.execute(text(explain + sql))).all()
            found.append("\n".join(str(row[-1]) for row in rows))
    return found


async def test_a_pass_probes_the_partial_index_and_never_scans_the_table(
        database_backend: str, database_templates: DatabaseTemplates, tmp_path: Path) -> None:
    url = await fresh_database(database_backend, database_templates, tmp_path)
    db = Database(url)
    try:
        await fill(db, total=10_000, changing=50)  # open rows at every level, 50 of them due_soon tomorrow
        for day in (BENCH_DAY, BENCH_DAY + timedelta(days=1)):
            found = await plans(db, day)
            assert len(found) == 8
            for plan in found:
                assert INDEX in plan, plan
                if db.sqlite:
                    assert "SCAN recommendations" not in plan, plan
                    assert plan.startswith(f"SEARCH recommendations USING INDEX {INDEX} (escalation_level=? AND "
                                           "due_date"), plan
                else:
                    assert "Seq Scan" not in plan, plan
                    assert "Index Cond: (((escalation_level)::text = " in plan, plan

        nothing = await pass_on(db, BENCH_DAY)
        assert (nothing.changed, nothing.batches) == (0, 0)
        moved = await pass_on(db, BENCH_DAY + timedelta(days=1), batch_size=20)
        assert (moved.changed, moved.events, moved.batches) == (50, 50, 3)
    finally:
        await db.dispose()
        await discard_database(database_backend, url)
