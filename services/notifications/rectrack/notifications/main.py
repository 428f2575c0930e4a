"""The notifications service app: `uvicorn --factory rectrack.notifications.main:create_app`."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from fastapi import FastAPI

from rectrack.common.app import ServiceRuntime, create_service_app
from rectrack.common.clock import Clock, SystemClock
from rectrack.common.events.subjects import BODY_STREAM, RECOMMENDATION_STREAM
from rectrack.common.logs import configure_logging
from rectrack.common.settings import PlatformSettings, platform_settings
from rectrack.notifications.api import router
from rectrack.notifications.channels import (
    Channel,
    InboxChannel,
    MailboxFileChannel,
    SmtpEmailChannel,
    WebhookChannel,
)
from rectrack.notifications.config import SERVICE_NAME, NotificationsSettings
from rectrack.notifications.consumers import RecommendationNotifier, on_body_event
from rectrack.notifications.models import INBOX, OUTBOX
from rectrack.notifications.worker import DeliveryWorker

MIGRATIONS = str(Path(__file__).parent / "migrations")
BODIES_DURABLE = "notifications-bodies"
RECOMMENDATIONS_DURABLE = "notifications-recommendations"

log = logging.getLogger(__name__)


def email_channel(settings: NotificationsSettings, platform: PlatformSettings) -> Channel:
    """SMTP when a host is configured; otherwise the local mbox file (so `make run` needs no mail server)."""
    if settings.smtp_host:
        log.info("e-mail goes through SMTP at %s:%d", settings.smtp_host, settings.smtp_port)
        return SmtpEmailChannel(settings.smtp_host, settings.smtp_port, settings.mail_from,
                                timeout=settings.smtp_timeout, use_tls=settings.smtp_use_tls,
                                start_tls=settings.smtp_start_tls, username=settings.smtp_username,
                                password=settings.smtp_password)
    return MailboxFileChannel(settings.resolved_mailbox(platform), sender=settings.mail_from)


class NotificationsRuntime(ServiceRuntime):
    """The shared runtime plus the delivery worker, which runs whether or not NATS is reachable."""

    def __init__(self, *, settings: NotificationsSettings, platform: PlatformSettings, clock: Clock) -> None:
        super().__init__(name=SERVICE_NAME, platform=platform, database_url=settings.database(platform),
                         outbox_table=OUTBOX, inbox_table=INBOX)
        self.settings = settings
        self.webhook_client = httpx.AsyncClient(timeout=settings.webhook_timeout, trust_env=False)
        channels: dict[str, Channel] = {
            "email": email_channel(settings, platform),
            "webhook": WebhookChannel(self.webhook_client, timeout=settings.webhook_timeout),
            "inbox": InboxChannel(),
        }
        self.worker = DeliveryWorker(db=self.db, outbox=self.outbox, channels=channels, settings=settings,
                                     clock=clock)
        self.consume(BODIES_DURABLE, BODY_STREAM, on_body_event)
        self.consume(RECOMMENDATIONS_DURABLE, RECOMMENDATION_STREAM,
                     RecommendationNotifier(settings=settings, outbox=self.outbox, clock=clock))

    async def start(self) -> None:
        """Start NATS, relay and consumers, and the delivery worker."""
        await super().start()
        if self.settings.run_worker:
            self.background(self.worker.run(), "deliveries")

    async def stop(self) -> None:
        """Stop the worker (its leased deliveries are retried after the lease), consumers and relay, then close."""
        await super().stop()
        await self.webhook_client.aclose()


def create_app(settings: NotificationsSettings | None = None, platform: PlatformSettings | None = None,
               clock: Clock | None = None) -> FastAPI:
    """The notifications service: who hears what, how, and the record that they did."""
    settings = settings or NotificationsSettings()
    platform = platform or platform_settings()
    if platform.profile != "test":
        configure_logging(SERVICE_NAME, level=platform.log_level, json=platform.log_json)
    runtime = NotificationsRuntime(settings=settings, platform=platform, clock=clock or SystemClock())
    app = create_service_app(runtime, title="rectrack notifications", routers=[router],
                             description="In-app inbox, e-mail and signed webhooks; the delivery log.")
    app.state.settings = settings
    return app
