"""The read model of bodies (contacts, webhook) from body.* events, and who exactly an audience is."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.contracts import BodyV1, RecommendationSnapshotV1
from rectrack.common.db import insert_ignore, utcnow
from rectrack.notifications.config import NotificationsSettings
from rectrack.notifications.models import KnownBody
from rectrack.notifications.rules import BODY_ROLES, Audience


async def apply_body(session: AsyncSession, body: BodyV1) -> None:
    """Take in a body event; an event older than what we hold changes nothing."""
    values = {"name": body.name, "status": body.status, "contacts": [c.model_dump() for c in body.contacts],
              "webhook_url": body.webhook_url, "webhook_secret": body.webhook_secret, "version": body.version,
              "updated_at": utcnow()}
    if await insert_ignore(session, KnownBody.__table__, {"id": body.id, **values}):
        return
    await session.execute(update(KnownBody).where(KnownBody.id == body.id, KnownBody.version <= body.version)
                          .values(**values))


async def get_body(session: AsyncSession, body_id: str) -> KnownBody | None:
    """The body as we know it, if we do."""
    return (await session.execute(select(KnownBody).where(KnownBody.id == body_id))).scalar_one_or_none()


@dataclass
class Target:
    """One recipient on one channel, and every audience it stands for."""

    channel: str  # "email" | "webhook"
    address: str
    name: str | None = None
    audiences: list[str] = field(default_factory=list)


@dataclass
class Recipients:
    """Everyone one event reaches: e-mail and webhook targets, and the inboxes that get a notice."""

    targets: list[Target] = field(default_factory=list)
    inbox_keys: dict[str, list[str]] = field(default_factory=dict)  # inbox key -> audiences

    def add(self, channel: str, address: str, name: str | None, audience: str) -> None:
        """Add a target unless the same address is already on that channel (one notice per person)."""
        key = address.strip().lower()
        for target in self.targets:
            if target.channel == channel and target.address.lower() == key:
                if audience not in target.audiences:
                    target.audiences.append(audience)
                return
        self.targets.append(Target(channel=channel, address=address.strip(), name=name, audiences=[audience]))

    def add_inbox(self, inbox_key: str, audience: str) -> None:
        """Give an inbox one notice, whoever in it the audience is."""
        audiences = self.inbox_keys.setdefault(inbox_key, [])
        if audience not in audiences:
            audiences.append(audience)


def staff_email(settings: NotificationsSettings, subject: str) -> str | None:
    """A staff member's e-mail address, when it is known."""
    if subject in settings.staff_emails:
        return settings.staff_emails[subject]
    if "@" in subject:
        return subject
    if settings.staff_email_domain:
        return f"{subject}@{settings.staff_email_domain}"
    return None


def resolve(settings: NotificationsSettings, audiences: list[Audience], body: KnownBody | None,
            rec: RecommendationSnapshotV1) -> Recipients:
    """The people, inboxes and webhook an event's audiences stand for, each once."""
    found = Recipients()
    contacts = body.contacts if body is not None else []
    for audience in audiences:
        if audience in BODY_ROLES:
            found.add_inbox(f"body:{rec.body_id}", audience)
            for contact in contacts:
                if contact.get("role") == audience and contact.get("email"):
                    found.add("email", contact["email"], contact.get("name"), audience)
        elif audience == "owner" and rec.owner:
            found.add_inbox(f"staff:{rec.owner}", audience)
            address = staff_email(settings, rec.owner)
            if address:
                found.add("email", address, None, audience)
        elif audience == "leadership":
            for subject in settings.leadership_subjects or ["leadership"]:
                found.add_inbox(f"staff:{subject}", audience)
            for address in settings.leadership_emails:
                found.add("email", address, None, audience)
        elif audience == "webhook" and body is not None and body.webhook_url:
            found.add("webhook", body.webhook_url, body.name, audience)
    return found
