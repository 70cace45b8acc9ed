"""Reading what the platform shows a recipient: the pickup site's pages and the notices."""

from __future__ import annotations

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
