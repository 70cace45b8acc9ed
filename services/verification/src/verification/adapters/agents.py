"""Who is calling the desk: OIDC bearer tokens (JWT) from the identity provider.

A token is taken only when its signature verifies under a key of the configured JWKS
(RS256 or ES256, never `none` nor an HMAC algorithm), it is unexpired, and it names the
configured issuer and audience. Roles come from a claim (`roles` by default): `agent`
works cases, `supervisor` also assigns triage and reads any case's audit trail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from lre_shared.oidc import verified_claims

ALGORITHMS = ("RS256", "ES256")
CLOCK_SKEW_SECONDS = 30
AGENT, SUPERVISOR = "agent", "supervisor"


class Unauthenticated(Exception):
    """No valid token: answered 401."""


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        roles_claim: str,
        jwks_url: str | None = None,
        jwks_file: Path | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self._client = PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._file = jwks_file
        self._keys: PyJWKSet | None = None

    def _key(self, token: str) -> PyJWK:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token)
        if self._keys is None:
            if self._file is None:
                raise Unauthenticated("no key source configured")
            self._keys = PyJWKSet.from_dict(json.loads(self._file.read_text()))
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._keys.keys:
            if key.key_id == kid:
                return key
        raise Unauthenticated("token signed by an unknown key")

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or Unauthenticated. Blocking (a JWKS URL may be fetched)."""
        try:
            return verified_claims(
                token,
                self._key(token),
                issuer=self.issuer,
                audience=self.audience,
                algorithms=ALGORITHMS,
                leeway=CLOCK_SKEW_SECONDS,
                required=("exp", "iss", "aud", "sub"),
            )
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise Unauthenticated(str(exc)) from exc

    def roles(self, claims: dict[str, Any]) -> set[str]:
        value = claims.get(self.roles_claim, [])
        if isinstance(value, str):
            value = value.split()
        return {str(role) for role in value} if isinstance(value, list) else set()
