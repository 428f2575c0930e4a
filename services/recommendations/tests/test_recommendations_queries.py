"""Lists with filters, sorting and paging; the roll-up summary; CSV export."""

from __future__ import annotations

import csv
import io

from recommendations_testkit import FORCE_A, FORCE_B, INSPECTOR, VIEWER, Service


async def seed(service: Service) -> dict[str, list[dict]]:
    peel = await service.report("PEEL 2025")
    thematic = await service.report("Vetting thematic", kind="thematic", level="national")
    r1 = await service.recommend(peel["id"], ["force-a", "force-b", "force-c"], reference="P-R1",
                                 due_date="2020-01-01")
    r2 = await service.recommend(thematic["id"], ["force-a", "force-b"], reference="V-R1", themes=["vetting"],
                                 title="Vetting backlog", due_date="2031-01-01")
    d = await service.recommend(thematic["id"], ["force-c"], reference="V-R2", issue=False, due_date="2032-01-01")
    return {"r1": r1, "r2": r2, "draft": d, "reports": [peel, thematic]}


async def test_filters_sorting_paging(service: Service) -> None:
    data = await seed(service)
    a_r1 = data["r1"][0]
    await service.act(a_r1["id"], FORCE_A, "start")

    async def ids(who=INSPECTOR, **params) -> list[str]:
        response = await service.get("/recommendations", who, params=params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert len(await ids()) == 6
    assert len(await ids(region="north")) == 4
    assert len(await ids(body_kind="fire_and_rescue_service")) == 2
    assert len(await ids(report_id=data["reports"][1]["id"])) == 3
    assert len(await ids(theme="vetting")) == 2
    assert await ids(state="in_progress") == [a_r1["id"]]
    assert len(await ids(state=["issued", "in_progress"])) == 5
    assert len(await ids(overdue="true")) == 3
    assert len(await ids(q="backlog")) == 2 and len(await ids(q="v-r")) == 3
    assert len(await ids(due_before="2031-06-01", due_after="2025-01-01")) == 2
    assert len(await ids(escalation_level="none")) == 6 and await ids(escalation_level="engage") == []
    first = (await service.get("/recommendations", INSPECTOR, params={"sort": "-due_date", "limit": 2})).json()
    assert first["total"] == 6 and first["limit"] == 2 and first["offset"] == 0
    assert [i["due_date"] for i in first["items"]] == ["2032-01-01", "2031-01-01"]
    rest = await ids(sort="-due_date", limit=500, offset=2)
    assert len(rest) == 4 and not set(rest) & {i["id"] for i in first["items"]}
    assert (await service.get("/recommendations", INSPECTOR, params={"sort": "colour"})).status_code == 422
    assert (await service.get("/recommendations", INSPECTOR, params={"limit": 501})).status_code == 422
    assert (await service.get("/recommendations", INSPECTOR, params={"state": "lost"})).status_code == 422
    # A body sees its own, issued ones only, whatever it asks for.
    assert set(await ids(FORCE_A, limit=500)) == {a_r1["id"], data["r2"][0]["id"]}
    assert await ids(FORCE_A, report_id=data["reports"][1]["id"], state="draft") == []


async def test_summary(service: Service) -> None:
    data = await seed(service)
    rec = data["r1"][0]
    await service.act(rec["id"], FORCE_A, "start")
    await service.post(f"/recommendations/{rec['id']}/progress", FORCE_A, json={"narrative": "done"})
    await service.act(rec["id"], FORCE_A, "submit")
    await service.act(rec["id"], INSPECTOR, "approve", assessment="ok")
    summary = (await service.get("/recommendations/summary", VIEWER)).json()
    assert summary["total"] == 6 and summary["by_state"]["complete"] == 1 and summary["by_state"]["draft"] == 1
    assert summary["by_escalation_level"] == {"none": 6, "due_soon": 0, "overdue": 0, "escalated": 0, "engage": 0}
    assert summary["overdue"] == 2 and summary["median_days_to_complete"] is not None
    bodies = {e["body_id"]: e for e in summary["by_body"]}
    assert bodies["force-a"]["total"] == 2 and bodies["force-a"]["name"] == "Force A Police"
    assert bodies["force-b"]["overdue"] == 1 and bodies["force-a"]["overdue"] == 0
    regions = {e["region"]: e for e in summary["by_region"]}
    assert regions["north"]["total"] == 4 and regions["south"]["by_state"]["issued"] == 2
    themes = {e["theme"]: e["total"] for e in summary["by_theme"]}
    assert themes == {"domestic-abuse": 4, "vulnerability": 4, "vetting": 2}
    reports = {e["name"]: e["total"] for e in summary["by_report"]}
    assert reports == {"PEEL 2025": 3, "Vetting thematic": 3}
    mine = (await service.get("/recommendations/summary", FORCE_B)).json()
    assert mine["total"] == 2 and mine["scope"] == "body:force-b" and mine["overdue"] == 1
    assert [e["body_id"] for e in mine["by_body"]] == ["force-b"]
    filtered = (await service.get("/recommendations/summary", INSPECTOR, params={"region": "south"})).json()
    assert filtered["total"] == 2


async def test_export_csv(service: Service) -> None:
    data = await seed(service)
    response = await service.get("/recommendations/export.csv", INSPECTOR, params={"sort": "reference"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 6 and rows[0]["reference"] == "P-R1"
    assert {r["body_name"] for r in rows} >= {"Force A Police", "Force C Fire"}
    overdue = (await service.get("/recommendations/export.csv", INSPECTOR, params={"overdue": "true"})).text
    assert len(list(csv.DictReader(io.StringIO(overdue)))) == 3
    mine = list(csv.DictReader(io.StringIO((await service.get("/recommendations/export.csv", FORCE_A)).text)))
    assert {r["body_id"] for r in mine} == {"force-a"} and len(mine) == 2
    assert data["draft"][0]["id"] not in (await service.get("/recommendations/export.csv", FORCE_A)).text
