"""Signing in through the local OpenID provider (`deploy/local/oidc.py`) over plain HTTP, as a
browser would: for tests of the provider itself and for API tests of the clients that use it
(the desk console, the pickup site). Browser tests sign in through the real pages instead."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import urljoin

import httpx


def pkce() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def follow_sign_in(
    client: httpx.Client, start: str, issuer: str, username: str, password: str, until: str
) -> str:
    """GET `start`, follow the redirects, fill the provider's sign-in form (pages served under
    `issuer`) with `username` and `password`, and return the first redirect target that starts
    with `until` (not followed: the caller decides whether to)."""
    response = client.get(start)
    for _ in range(12):
        assert response.status_code in (200, 302, 303), response.text
        if response.status_code == 200:
            assert str(response.url).startswith(issuer), f"stopped on {response.url}: {response.text[:500]}"
            action = re.search(r'action="([^"]+)"', response.text)
            assert action is not None, response.text
            response = client.post(
                urljoin(issuer, action.group(1)), data={"username": username, "password": password}
            )
            continue
        location = urljoin(str(response.url), response.headers["location"])
        if location.startswith(until):
            return location
        response = client.get(location)
    raise AssertionError(f"the sign-in never reached {until}")
