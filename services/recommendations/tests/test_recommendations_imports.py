"""Bulk import of a report's recommendations: CSV and JSON, all or nothing, errors by row and column."""

from __future__ import annotations

from recommendations_testkit import FORCE_A, INSPECTOR, Service

CSV_OK = (
    "reference,kind,title,text,themes,priority,due_date,owner,recipient_body_ids,issue\n"
    "PEEL-R1,recommendation,Stop and search,Record every search,stop-and-search;legitimacy,high,2030-01-31,ida,"
    "force-a;force-b,true\n"
    "PEEL-AFI1,area_for_improvement,Crime data,Improve recording,crime-data,low,,ida,force-c,\n"
)


async def count(service: Service) -> int:
    return int((await service.get("/recommendations", INSPECTOR)).json()["total"])


async def test_csv_import(service: Service) -> None:
    report = await service.report()
    response = await service.post(f"/reports/{report['id']}/recommendations/import", INSPECTOR,
                                  content=CSV_OK.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [(i["reference"], i["body_id"], i["state"]) for i in items] == [
        ("PEEL-R1", "force-a", "issued"), ("PEEL-R1", "force-b", "issued"), ("PEEL-AFI1", "force-c", "draft")]
    assert items[0]["group_id"] == items[1]["group_id"] != items[2]["group_id"]
    assert items[0]["themes"] == ["stop-and-search", "legitimacy"] and items[2]["due_date"] is None
    assert (await service.get("/recommendations", FORCE_A)).json()["items"][0]["reference"] == "PEEL-R1"
    again = await service.post(f"/reports/{report['id']}/recommendations/import", INSPECTOR,
                               content=CSV_OK.encode(), headers={"Content-Type": "text/csv"})
    assert again.status_code == 422 and {e["column"] for e in again.json()["errors"]} == {"reference"}


async def test_json_import(service: Service) -> None:
    report = await service.report()
    rows = [{"reference": f"R{n}", "title": f"Title {n}", "text": "Do it", "recipient_body_ids": ["force-a"],
             "themes": ["custody"], "due_date": "2031-01-01"} for n in range(1, 4)]
    response = await service.post(f"/reports/{report['id']}/recommendations/import", INSPECTOR,
                                  json={"recommendations": rows}, params={"issue": "true"})
    assert response.status_code == 201, response.text
    assert response.json()["total"] == 3 and {i["state"] for i in response.json()["items"]} == {"issued"}


async def test_one_bad_row_writes_nothing(service: Service) -> None:
    report = await service.report()
    bad_csv = CSV_OK + "PEEL-R9,recommendation,,Text,x,urgent,2030-13-01,ida,force-a;nowhere-police,\n"
    response = await service.post(f"/reports/{report['id']}/recommendations/import", INSPECTOR,
                                  content=bad_csv.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {(e["row"], e["column"]) for e in errors} == {(3, "title"), (3, "priority"), (3, "due_date")}
    assert await count(service) == 0
    # Recipients are checked once the rows are well formed.
    unknown = CSV_OK.replace("force-c,", "gone-police,")
    response = await service.post(f"/reports/{report['id']}/recommendations/import", INSPECTOR,
                                  content=unknown.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"row": 2, "column": "recipient_body_ids",
                                          "message": "body 'gone-police' is abolished"}]
    rows = [{"reference": "R1", "title": "t", "text": "x", "recipient_body_ids": ["force-a"]},
            {"reference": "R2", "title": "t", "text": "x", "recipient_body_ids": [], "colour": "red"}]
    response = await service.post(f"/reports/{report['id']}/recommendations/import", INSPECTOR, json=rows)
    assert response.status_code == 422
    assert {(e["row"], e["column"]) for e in response.json()["errors"]} == {(2, "recipient_body_ids"), (2, "colour")}
    header = await service.post(f"/reports/{report['id']}/recommendations/import", INSPECTOR,
                                content=b"reference,title\nR1,t\n", headers={"Content-Type": "text/csv"})
    assert header.status_code == 422 and {e["row"] for e in header.json()["errors"]} == {0}
    assert await count(service) == 0
    assert (await service.post(f"/reports/{report['id']}/recommendations/import", FORCE_A,
                               json=rows)).status_code == 403
    assert (await service.post("/reports/nope/recommendations/import", INSPECTOR, json=rows)).status_code == 404
