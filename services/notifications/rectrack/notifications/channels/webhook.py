"""Webhook delivery: one signed JSON POST per attempt; the caller schedules retries."""

import asyncio
import json
import time
from collections.abc import Callable

import httpx

from rectrack.notifications import signing
from rectrack.notifications.channels.base import DeliveryResult, Message, Recipient

DELIVERY_HEADER = "X-Rectrack-Delivery"
USER_AGENT = "rectrack-webhooks/1"
# Enough of an error response to explain a failure in the delivery log, no more.
_DETAIL_BYTES = 200
# Request timeout and too-many-requests say "later", unlike the rest of 4xx.
_RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})


class WebhookChannel:
    """POST ``message.data`` as signed JSON to the recipient's URL."""

    name = "webhook"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.clock = clock

    def request_for(self, recipient: Recipient, message: Message, *, delivery_id: str) -> tuple[bytes, dict[str, str]]:
        """Return the body and headers of the POST for one delivery."""
        body = json.dumps(message.data).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: delivery_id,
        }
        if recipient.secret:
            headers |= signing.signature_header(recipient.secret, body, now=int(self.clock()))
        return body, headers

    async def send(self, recipient: Recipient, message: Message, *, delivery_id: str) -> DeliveryResult:
        """POST once; 2xx is delivered, 4xx (bar 408/429) permanent, anything else retryable."""
        try:
            body, headers = self.request_for(recipient, message, delivery_id=delivery_id)
        except (TypeError, ValueError) as exc:
            return DeliveryResult.failed_permanently(f"payload is not JSON: {exc}")
        try:
            # httpx's timeout bounds each read; this bounds the whole exchange, so a
            # receiver trickling bytes cannot hold a worker forever.
            async with asyncio.timeout(self.timeout):
                status, excerpt = await self._post(recipient.address, body, headers)
        except TimeoutError:
            return DeliveryResult.retryable(f"no answer within {self.timeout:g}s")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return DeliveryResult.failed_permanently(f"bad webhook URL: {exc}")
        except httpx.TimeoutException:
            return DeliveryResult.retryable(f"no answer within {self.timeout:g}s")
        except (httpx.HTTPError, OSError) as exc:
            # OSError: transports other than httpx's own may let socket errors through unmapped.
            return DeliveryResult.retryable(f"{type(exc).__name__}: {exc}")
        return _classify(status, excerpt)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        request = self.client.build_request("POST", url, content=body, headers=headers, timeout=self.timeout)
        # Redirects are not followed: a signed payload goes only to the configured URL.
        response = await self.client.send(request, stream=True, follow_redirects=False)
        try:
            excerpt = b""
            async for chunk in response.aiter_raw():
                excerpt += chunk
                if len(excerpt) >= _DETAIL_BYTES:
                    break
        finally:
            await response.aclose()
        return response.status_code, excerpt[:_DETAIL_BYTES].decode(errors="replace").strip()


def _classify(status: int, excerpt: str) -> DeliveryResult:
    detail = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if 200 <= status < 300:
        return DeliveryResult.delivered(detail)
    if 300 <= status < 400:
        return DeliveryResult.failed_permanently(f"{detail} (redirects are not followed)")
    if 400 <= status < 500 and status not in _RETRYABLE_CLIENT_ERRORS:
        return DeliveryResult.failed_permanently(detail)
    return DeliveryResult.retryable(detail)
