"""E-mail delivery: SMTP through aiosmtplib, or an mbox file for local runs with no mail server."""

import asyncio
import email.generator
import email.utils
import fcntl
import io
import logging
import mailbox
import re
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from rectrack.notifications.channels.base import DeliveryResult, Message, Recipient

logger = logging.getLogger(__name__)

_MESSAGE_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._\-+=]")


def message_id_for(delivery_id: str, sender: str) -> str:
    """Return a deterministic Message-ID so a receiver can spot a re-sent delivery."""
    local = _MESSAGE_ID_UNSAFE.sub("-", delivery_id) or "delivery"
    domain = sender.rpartition("@")[2] or "rectrack.invalid"
    domain = _MESSAGE_ID_UNSAFE.sub("-", domain)
    return f"<{local}@{domain}>"


def build_email(sender: str, recipient: Recipient, message: Message, *, delivery_id: str) -> EmailMessage:
    """Build a text (plus HTML alternative, if any) e-mail for one delivery."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = email.utils.formataddr((recipient.name or "", recipient.address))
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = message_id_for(delivery_id, sender)
    mail["X-Rectrack-Delivery"] = delivery_id
    # Reminders are machine-sent: ask autoresponders not to answer them.
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text)
    if message.html is not None:
        mail.add_alternative(message.html, subtype="html")
    return mail


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


class SmtpEmailChannel:
    """Send e-mail through an SMTP server; 5xx replies are permanent, the rest retryable."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        timeout: float,
        use_tls: bool = False,
        start_tls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.username = username
        self.password = password

    async def send(self, recipient: Recipient, message: Message, *, delivery_id: str) -> DeliveryResult:
        """Send ``message`` to ``recipient.address`` in one SMTP session."""
        try:
            mail = build_email(self.sender, recipient, message, delivery_id=delivery_id)
        except ValueError as exc:
            # A line break in a header (name, subject) is bad data: resending cannot fix it.
            return DeliveryResult.failed_permanently(f"cannot build e-mail: {exc}")
        try:
            await aiosmtplib.send(
                mail,
                sender=self.sender,
                recipients=[recipient.address],
                hostname=self.host,
                port=self.port,
                timeout=self.timeout,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                username=self.username,
                password=self.password,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if codes and all(_is_permanent(code) for code in codes):
                return DeliveryResult.failed_permanently(f"recipient refused: {detail}")
            return DeliveryResult.retryable(f"recipient deferred: {detail}")
        except aiosmtplib.SMTPResponseException as exc:
            # Sender refused, data rejected, authentication failed, ...: the server's code decides.
            detail = f"SMTP {exc.code} {exc.message}"
            if _is_permanent(exc.code):
                return DeliveryResult.failed_permanently(detail)
            return DeliveryResult.retryable(detail)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused, timeouts, disconnects: the server may be back later.
            return DeliveryResult.retryable(f"{type(exc).__name__}: {exc}")
        return DeliveryResult.delivered(f"accepted by {self.host}:{self.port}")


class MailboxFileChannel:
    """Append each e-mail to a local mbox file: the default when no mail server is configured."""

    name = "email"

    def __init__(self, path: str | Path, *, sender: str = "rectrack@localhost") -> None:
        self.path = Path(path)
        self.sender = sender
        # mailbox's dot-lock raises rather than waits, so writers in this process take turns here.
        self._lock = asyncio.Lock()
        logger.info("no SMTP server configured: e-mail is written to the mbox file %s", self.path)

    async def send(self, recipient: Recipient, message: Message, *, delivery_id: str) -> DeliveryResult:
        """Append ``message`` to the mbox file."""
        try:
            mail = build_email(self.sender, recipient, message, delivery_id=delivery_id)
        except ValueError as exc:
            return DeliveryResult.failed_permanently(f"cannot build e-mail: {exc}")
        async with self._lock:
            try:
                await asyncio.to_thread(self._append, mail)
            except (OSError, mailbox.Error) as exc:
                # Usually another process (a mail reader) holds the lock: try again later.
                return DeliveryResult.retryable(f"{type(exc).__name__}: {exc}")
        return DeliveryResult.delivered(f"written to {self.path}")

    def _append(self, mail: EmailMessage) -> None:
        # Appended directly rather than through mailbox.mbox, which re-reads the whole file to index it on
        # every add: a thousand messages took a minute, and each one slower than the last.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from_line = f"From {self.sender} {time.asctime(time.gmtime())}\n".encode()  # as mboxMessage.set_from
        buffer = io.BytesIO()
        # mangle_from_ quotes body lines starting "From " so a reader does not split the message there.
        email.generator.BytesGenerator(buffer, mangle_from_=True).flatten(mail)
        data = buffer.getvalue().replace(b"\r\n", b"\n")
        record = from_line + data + (b"" if data.endswith(b"\n") else b"\n")
        with open(self.path, "ab") as box:
            # The same lock mailbox.mbox (and mail readers) take, so a reader never sees half a message.
            fcntl.lockf(box, fcntl.LOCK_EX)
            try:
                box.seek(0, io.SEEK_END)
                box.write((b"\n" if box.tell() else b"") + record)
                box.flush()
            finally:
                fcntl.lockf(box, fcntl.LOCK_UN)
