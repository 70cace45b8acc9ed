"""An OpenID provider's answers without a network (an `httpx.MockTransport`): discovery, keys,
and a token endpoint handing out the ID token a test minted, for unit tests of the relying
party (`lre_shared.oidc`) and of the services' clients of it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://idp.example"
CLIENT = "lre-client"
SECRET = "a client secret of thirty-two chars"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(key: rsa.RSAPrivateKey = KEY, kid: str = "k1") -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [public | {"kid": kid, "use": "sig", "alg": "RS256"}]}


def id_token(nonce: str, key: Any = KEY, alg: str = "RS256", kid: str = "k1", **changes: Any) -> str:
    """An ID token for this sign-in's `nonce`; `changes` add or replace claims (None removes)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "fc-camille",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 300,
        "auth_time": now - 5,
        "nonce": nonce,
    } | changes
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, alg, headers={"kid": kid})


def discovery(issuer: str = ISSUER) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": ISSUER + "/auth",
        "token_endpoint": ISSUER + "/token",
        "jwks_uri": ISSUER + "/jwks",
        "end_session_endpoint": ISSUER + "/session/end",
    }


@dataclass
class FakeProvider:
    """Answers as a provider at `ISSUER` would; the token endpoint gives `token` for any code
    (none: `invalid_grant`). Every request is kept in `seen`."""

    token: str | None = None
    document: dict[str, Any] = field(default_factory=discovery)
    keys: dict[str, Any] = field(default_factory=jwks)
    seen: list[httpx.Request] = field(default_factory=list)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.document)
        if path == "/jwks":
            return httpx.Response(200, json=self.keys)
        if path == "/token" and self.token is not None:
            return httpx.Response(
                200, json={"id_token": self.token, "access_token": "a", "token_type": "Bearer"}
            )
        return httpx.Response(400, json={"error": "invalid_grant"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.answer)

    def calls(self, path: str) -> list[httpx.Request]:
        return [request for request in self.seen if request.url.path == path]
