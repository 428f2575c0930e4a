"""The one interface every delivery channel implements."""

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    """What to say: subject, plain text, optional HTML, and the JSON payload for webhooks."""

    subject: str
    text: str
    html: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipient:
    """Where to say it: an e-mail address, a webhook URL, or an inbox principal key."""

    channel: str  # "email" | "webhook" | "inbox"
    address: str
    name: str | None = None
    # Webhook signing secret (None: sent unsigned); kept out of repr so it stays out of logs.
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one attempt; ``permanent`` means retrying cannot help."""

    ok: bool
    permanent: bool
    detail: str | None

    @classmethod
    def delivered(cls, detail: str | None = None) -> "DeliveryResult":
        """Return a successful result."""
        return cls(ok=True, permanent=False, detail=detail)

    @classmethod
    def retryable(cls, detail: str) -> "DeliveryResult":
        """Return a failure worth retrying later."""
        return cls(ok=False, permanent=False, detail=detail)

    @classmethod
    def failed_permanently(cls, detail: str) -> "DeliveryResult":
        """Return a failure that retrying will not fix."""
        return cls(ok=False, permanent=True, detail=detail)


@runtime_checkable
class Channel(Protocol):
    """A way of delivering a message; ``send`` reports failures as results and does not retry."""

    name: str

    async def send(self, recipient: Recipient, message: Message, *, delivery_id: str) -> DeliveryResult:
        """Deliver ``message`` to ``recipient`` once; ``delivery_id`` is stable across retries."""
        ...
