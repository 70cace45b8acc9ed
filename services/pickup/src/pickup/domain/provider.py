"""A recipient's sign-in at an identity provider, as the pickup site keeps and reads it.

CPCE R.53-1 accepts an identity provider at eIDAS level substantial or high (FranceConnect+)
for the recipient's identity. The site is a confidential OpenID Connect client: the
authorization code flow, with PKCE, `state` and `nonce` kept server-side (`IdentityRequest`),
the ID token checked against the provider's keys (`adapters.oidc`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

Purpose = Literal["signature", "code"]
# A sign-in not back by then is dropped: its state is worth nothing after.
REQUEST_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class IdentityRequest:
    """A sign-in under way: the callback's `state` finds it, once."""

    state: str
    session_id: str
    letter_id: UUID
    nonce: str
    code_verifier: str
    purpose: Purpose  # signature: a match signs the AR; code: a match has the desk send the code
    code_channel: Literal["email", "sms"]
    started_at: datetime

    @property
    def code_challenge(self) -> str:
        """RFC 7636 S256 challenge of the verifier."""
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def expired(self, now: datetime) -> bool:
        return now - self.started_at > REQUEST_LIFETIME


def new_request(
    session_id: str, letter_id: UUID, purpose: Purpose, code_channel: Literal["email", "sms"], now: datetime
) -> IdentityRequest:
    return IdentityRequest(
        state=secrets.token_urlsafe(32),
        session_id=session_id,
        letter_id=letter_id,
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),  # 86 characters: within RFC 7636's 43..128
        purpose=purpose,
        code_channel=code_channel,
        started_at=now,
    )


@dataclass(frozen=True)
class ProviderIdentity:
    """Who the provider says signed in, from its verified ID token."""

    issuer: str
    subject: str
    acr: str | None
    auth_time: datetime | None
    claims: dict[str, Any]

    def claim(self, name: str) -> str | None:
        value = self.claims.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    @property
    def full_name(self) -> str:
        return " ".join(n for n in (self.claim("given_name"), self.claim("family_name")) if n)

    @property
    def birthdate_sha256(self) -> str | None:
        born = self.claim("birthdate")
        return hashlib.sha256(born.encode()).hexdigest() if born else None
