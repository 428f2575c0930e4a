"""Delivery channels (e-mail, signed webhook, in-app inbox) behind one small interface."""

from rectrack.notifications.channels.base import Channel, DeliveryResult, Message, Recipient
from rectrack.notifications.channels.email import MailboxFileChannel, SmtpEmailChannel
from rectrack.notifications.channels.inbox import InboxChannel
from rectrack.notifications.channels.webhook import WebhookChannel

__all__ = [
    "Channel",
    "DeliveryResult",
    "InboxChannel",
    "MailboxFileChannel",
    "Message",
    "Recipient",
    "SmtpEmailChannel",
    "WebhookChannel",
]
