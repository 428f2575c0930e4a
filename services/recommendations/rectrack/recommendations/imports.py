"""Bulk import of a report's recommendations from CSV or JSON: every row validated first, all or nothing."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.errors import Problem
from rectrack.common.events.outbox import Outbox
from rectrack.recommendations.access import require_acting_staff
from rectrack.recommendations.bodies import bodies_by_id, recipient_problems
from rectrack.recommendations.models import Recommendation
from rectrack.recommendations.reports import get_report
from rectrack.recommendations.schemas import RecommendationFields
from rectrack.recommendations.tracking import create_group, existing_references

LIST_COLUMNS = ("themes", "recipient_body_ids")
KNOWN_COLUMNS = frozenset(RecommendationFields.model_fields)
REQUIRED_COLUMNS = ("reference", "title", "text", "recipient_body_ids")
TRUE, FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


def _invalid(errors: list[dict[str, Any]], detail: str = "the import has invalid rows; nothing was written") -> Problem:
    return Problem(422, "import-invalid", "Invalid import", detail, errors=errors)


def _split(value: str) -> list[str]:
    separator = "|" if "|" in value and ";" not in value else ";"
    return [part.strip() for part in value.split(separator) if part.strip()]


def parse_csv(raw: bytes) -> list[dict[str, Any]]:
    """Records from CSV (header row; lists separated by `;`); 422 for an unusable header."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid([{"row": 0, "column": None, "message": "the file is not UTF-8"}]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    errors = [{"row": 0, "column": h, "message": "unknown column"} for h in header if h not in KNOWN_COLUMNS]
    errors += [{"row": 0, "column": c, "message": "required column missing"} for c in REQUIRED_COLUMNS
               if c not in header]
    if errors:
        raise _invalid(errors)
    records = []
    for line in reader:
        record: dict[str, Any] = {}
        for key, value in line.items():
            if key is None:  # more cells than the header has columns
                record["__extra__"] = value
                continue
            key, value = key.strip(), (value or "").strip()
            if key in LIST_COLUMNS:
                record[key] = _split(value)
            elif key == "issue":
                record[key] = value.lower() if value.lower() not in TRUE | FALSE else value.lower() in TRUE
            elif value:
                record[key] = value
        records.append(record)
    return records


def parse_json(raw: bytes) -> list[dict[str, Any]]:
    """Records from a JSON array, or an object holding one under `recommendations` or `items`."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "malformed-json", "Malformed JSON", "the request body is not valid JSON") from None
    if isinstance(document, dict):
        document = document.get("recommendations", document.get("items"))
    if not isinstance(document, list):
        raise _invalid([{"row": 0, "column": None, "message": "expected a list of recommendations"}])
    return document


def _validate(records: list[Any], issue_default: bool) -> tuple[list[RecommendationFields], list[dict[str, Any]]]:
    valid, errors = [], []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            errors.append({"row": number, "column": None, "message": "expected an object"})
            continue
        if "__extra__" in record:
            errors.append({"row": number, "column": None, "message": "more cells than columns"})
            continue
        record = {"issue": issue_default, **record}
        try:
            valid.append(RecommendationFields.model_validate(record))
        except ValidationError as exc:
            for err in exc.errors():
                loc = err.get("loc", ())
                errors.append({"row": number, "column": str(loc[0]) if loc else None, "message": err["msg"]})
    return valid, errors


async def import_recommendations(session: AsyncSession, *, outbox: Outbox, report_id: str, records: list[Any],
                                 issue_default: bool, actor: Principal, now: datetime) -> list[Recommendation]:
    """Validate every record (schema, recipients, references), then create them all, or none."""
    require_acting_staff(actor)
    await get_report(session, report_id=report_id)
    if not records:
        raise _invalid([{"row": 0, "column": None, "message": "no recommendations to import"}])
    valid, errors = _validate(records, issue_default)
    if errors:
        raise _invalid(errors)
    known = await bodies_by_id(session, [b for data in valid for b in data.recipient_body_ids])
    seen: dict[tuple[str, str], int] = {}
    pairs = [(data.reference, body_id) for data in valid for body_id in data.recipient_body_ids]
    taken = await existing_references(session, report_id=report_id, pairs=pairs)
    for number, data in enumerate(valid, start=1):
        for problem in recipient_problems(data.recipient_body_ids, known):
            errors.append({"row": number, "column": "recipient_body_ids", "message": problem["message"]})
        for body_id in data.recipient_body_ids:
            pair = (data.reference, body_id)
            if pair in taken:
                errors.append({"row": number, "column": "reference",
                               "message": f"report already has {data.reference!r} for {body_id!r}"})
            elif pair in seen:
                errors.append({"row": number, "column": "reference",
                               "message": f"{data.reference!r} for {body_id!r} repeats row {seen[pair]}"})
            seen.setdefault(pair, number)
    if errors:
        raise _invalid(errors)
    created: list[Recommendation] = []
    for data in valid:
        created += await create_group(session, outbox=outbox, report_id=report_id, data=data, bodies=known,
                                      actor=actor, now=now)
    return created
