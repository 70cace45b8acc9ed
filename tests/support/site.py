"""Reading what the platform shows a recipient: the pickup site's pages and the notices."""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(page: httpx.Response) -> str:
    """The CSRF token of the page's form, to post it back."""
    match = CSRF.search(page.text)
    assert match, f"no CSRF token on {page.url}"
    return match.group(1)


def plain_text(message: EmailMessage) -> str:
    """The plain-text body of a notice."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def retried(site: httpx.AsyncClient, path: str) -> httpx.Response:
    """The page at `path` once another service has heard the news it waits on. The signer
    hears of the acceptance, the archive of the signature (and, for the zip, of the envelope
    proof) from the bus a moment after the site: until then the site asks to retry (503)."""
    for _ in range(150):
        answer = await site.get(path)
        if answer.status_code != 503:
            return answer
        await asyncio.sleep(0.2)
    return answer
