"""In-app inbox: the service layer writes the inbox row in its own transaction."""

from rectrack.notifications.channels.base import DeliveryResult, Message, Recipient


class InboxChannel:
    """A channel whose delivery is the inbox row itself, so sending always succeeds."""

    name = "inbox"

    async def send(self, recipient: Recipient, message: Message, *, delivery_id: str) -> DeliveryResult:
        """Report success: the row committed with the delivery is what the principal reads."""
        return DeliveryResult.delivered(f"in inbox of {recipient.address}")
