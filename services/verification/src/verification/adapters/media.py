"""MMS media from Twilio: each MediaUrl of an inbound message is fetched with the account's
credentials (HTTP basic auth; Twilio then redirects to its media store, and the
credentials are not sent on to another host). Reading stops past the size limit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import aiohttp


class TooLarge(Exception):
    pass


class MediaFetcher(Protocol):
    async def fetch(self, url: str, max_bytes: int) -> bytes: ...


@dataclass
class TwilioMedia:
    account_sid: str
    auth_token: str = field(repr=False)
    timeout: float = 30.0

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        """The media's bytes; TooLarge past `max_bytes`. Raises on HTTP errors."""
        # aiohttp drops the Authorization header on a redirect to another host.
        headers = {"Authorization": aiohttp.encode_basic_auth(self.account_sid, self.auth_token)}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            response.raise_for_status()
            if (response.content_length or 0) > max_bytes:
                raise TooLarge(f"{response.content_length} bytes is over the limit of {max_bytes} bytes")
            content = await response.content.read(max_bytes + 1)
            if len(content) > max_bytes:
                raise TooLarge(f"over the limit of {max_bytes} bytes")
            return content
