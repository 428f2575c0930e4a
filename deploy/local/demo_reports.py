"""Sample reports and recommendations for `make run`, posted through the gateway like any client would."""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta

import httpx

from rectrack.common.auth import issue_user_token
from rectrack.common.settings import PlatformSettings

TODAY = date.today()

REPORTS = [
    {
        "report": {"title": "PEEL 2023–25: Police effectiveness, efficiency and legitimacy – West Midlands Police",
                   "kind": "peel", "level": "local", "published_on": str(TODAY - timedelta(days=120)),
                   "url": "https://inspectorate.example.org/peel/2023/west-midlands-police"},
        "recommendations": [
            {"kind": "cause_of_concern", "reference": "PEEL-2023-WMP-C1",
             "title": "Answering emergency and non-emergency calls",
             "text": "The force should make sure it answers emergency and non-emergency calls promptly.",
             "themes": ["call-handling", "public-contact"], "priority": "high", "due_in": -40},
            {"kind": "recommendation", "reference": "PEEL-2023-WMP-R3",
             "title": "Safeguarding vulnerable people",
             "text": "The force should improve how it identifies and records vulnerability at first contact.",
             "themes": ["vulnerability", "domestic-abuse"], "priority": "medium", "due_in": 10},
        ],
        "bodies": ["west-midlands-police"],
    },
    {
        "report": {"title": "An inspection of vetting, misconduct and misogyny in the police service",
                   "kind": "thematic", "level": "national", "published_on": str(TODAY - timedelta(days=60)),
                   "url": "https://inspectorate.example.org/thematic/vetting-misconduct-misogyny"},
        "recommendations": [
            {"kind": "recommendation", "reference": "VMM-2022-R5", "title": "Vetting decisions recorded",
             "text": "Chief constables should make sure vetting decisions and their rationale are recorded.",
             "themes": ["vetting", "professional-standards"], "priority": "high", "due_in": 90},
        ],
        "bodies": ["avon-and-somerset-constabulary", "essex-police", "kent-police", "merseyside-police",
                   "metropolitan-police-service"],
    },
    {
        "report": {"title": "Standards of behaviour: the handling of misconduct in fire and rescue services",
                   "kind": "fire_and_rescue", "level": "national", "published_on": str(TODAY - timedelta(days=30)),
                   "url": "https://inspectorate.example.org/fire/standards-of-behaviour"},
        "recommendations": [
            {"kind": "area_for_improvement", "reference": "SOB-2023-AFI2",
             "title": "Confidential reporting line",
             "text": "Services should make sure staff can raise concerns confidentially and are protected.",
             "themes": ["culture", "misconduct"], "priority": "medium", "due_in": 45},
        ],
        "bodies": ["cornwall-fire-and-rescue-service", "kent-fire-and-rescue-service",
                   "west-midlands-fire-service"],
    },
]


def post(client: httpx.Client, path: str, body: dict, *, attempts: int = 60) -> httpx.Response:
    """POST, waiting while the recommendations service has not yet heard of the demo bodies."""
    for _ in range(attempts):
        response = client.post(path, json=body)
        if response.status_code != 422 or "body" not in response.text:
            return response
        time.sleep(0.5)
    return response


def main(gateway: str) -> int:
    """Create the sample reports and issue their recommendations."""
    token = issue_user_token(PlatformSettings(), role="admin", subject="demo-loader", name="Demo loader")
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        known = {b["id"] for b in client.get("/api/v1/bodies", params={"limit": 500}).json()["items"]}
        for sample in REPORTS:
            report = post(client, "/api/v1/reports", sample["report"])
            if report.status_code != 201:
                print(f"demo: report refused: {report.status_code} {report.text}", file=sys.stderr)
                return 1
            for rec in sample["recommendations"]:
                body = {k: v for k, v in rec.items() if k != "due_in"}
                body |= {"report_id": report.json()["id"], "benefits": "Fewer people are failed at first contact.",
                         "risks": "Harm to the public goes unnoticed.", "owner": "local-inspector",
                         "closure_criteria": "Evidence of sustained improvement in the force's own data.",
                         "due_date": str(TODAY + timedelta(days=rec["due_in"])), "issue": True,
                         "recipient_body_ids": [b for b in sample["bodies"] if b in known]}
                created = post(client, "/api/v1/recommendations", body)
                if created.status_code != 201:
                    print(f"demo: recommendation refused: {created.status_code} {created.text}", file=sys.stderr)
                    return 1
    print("demo: sample reports loaded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
