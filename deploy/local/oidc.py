"""An OpenID Connect provider on this machine, with test users: the operator's identity
provider for support staff (the desk console) and, for recipients, the stand-in for an
identity provider at eIDAS level substantial (FranceConnect+ in production, CPCE R.53-1).

It is the npm package `oidc-provider` run by `deploy/local/oidc/provider.mjs` (`make
test-tools`, or `npm ci --prefix deploy/local/oidc`). Local stack and tests only: the users
and their passwords below are public.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deploy.local.prism import wait_listening

ROOT = Path(__file__).resolve().parents[2]
OIDC_DIR = ROOT / "deploy" / "local" / "oidc"
PROVIDER = OIDC_DIR / "provider.mjs"
ROLES_CLAIM = "roles"  # the desk's VERIFICATION_OIDC_ROLES_CLAIM default
API_AUDIENCE = "lre-verification-desk"  # its VERIFICATION_OIDC_AUDIENCE default: access tokens are for it


class OidcMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class TestUser:
    username: str
    password: str
    sub: str
    acr: str  # eIDAS level of the sign-in: eidas1 low, eidas2 substantial, eidas3 high
    claims: Mapping[str, Any] = field(default_factory=dict)


# Support staff sign in to the desk console; recipients prove who they are on the pickup site.
USERS: tuple[TestUser, ...] = (
    TestUser(
        "agent", "agent-test", "staff-agent-1", "eidas2", {"name": "Alex Agent", ROLES_CLAIM: ["agent"]}
    ),
    TestUser(
        "supervisor",
        "supervisor-test",
        "staff-supervisor-1",
        "eidas2",
        {"name": "Sam Supervisor", ROLES_CLAIM: ["agent", "supervisor"]},
    ),
    # The demo letter's recipient (deploy/local/demo.py), at level substantial.
    TestUser(
        "camille",
        "camille-test",
        "fc-camille-martin",
        "eidas2",
        {"family_name": "MARTIN", "given_name": "Camille Marie", "birthdate": "1990-04-12"},
    ),
    # The same person signed in at level low: not enough for a registered letter.
    TestUser(
        "camille-low",
        "camille-test",
        "fc-camille-martin-low",
        "eidas1",
        {"family_name": "MARTIN", "given_name": "Camille", "birthdate": "1990-04-12"},
    ),
    # Someone else: their name matches no demo letter.
    TestUser(
        "dominique",
        "dominique-test",
        "fc-dominique-durand",
        "eidas2",
        {"family_name": "DURAND", "given_name": "Dominique", "birthdate": "1985-11-02"},
    ),
)


def public_client(
    client_id: str, redirect_uris: Sequence[str], logout_uris: Sequence[str] = ()
) -> dict[str, Any]:
    """A browser application's client: authorization code with PKCE, no secret (the console)."""
    return {
        "client_id": client_id,
        "token_endpoint_auth_method": "none",
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(logout_uris),
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


def confidential_client(client_id: str, secret: str, redirect_uris: Sequence[str]) -> dict[str, Any]:
    """A server's client: authorization code, authenticated with its secret (the pickup site)."""
    return {
        "client_id": client_id,
        "client_secret": secret,
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": list(redirect_uris),
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


def issuer(port: int) -> str:
    return f"http://127.0.0.1:{port}"


# The platform's two clients of the provider, and where each is sent back after a sign-in.
DESK_CLIENT_ID = "lre-desk-console"  # the desk console (verification service): agents, supervisors
DESK_CALLBACK = "/desk/auth/callback"
DESK_SIGNED_OUT = "/desk/"
PICKUP_CLIENT_ID = "lre-pickup"  # the pickup site: recipients proving who they are
PICKUP_CALLBACK = "/identite/retour"


@dataclass(frozen=True)
class LocalOidc:
    """The provider a local platform signs its people in with: where it answers, and the
    secrets of its confidential clients (made per platform, never written to the repo)."""

    port: int
    desk_client_secret: str
    pickup_client_secret: str

    @property
    def issuer(self) -> str:
        return issuer(self.port)

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def clients(self, desk_url: str, pickup_url: str) -> list[dict[str, Any]]:
        """The desk console and the pickup site as clients, sent back to `desk_url` and
        `pickup_url` (their origins, without a trailing slash). Both are servers (the console's
        tokens never reach the browser), so both are confidential; both use PKCE as well."""
        desk = confidential_client(DESK_CLIENT_ID, self.desk_client_secret, [desk_url + DESK_CALLBACK])
        desk["post_logout_redirect_uris"] = [desk_url + DESK_SIGNED_OUT]
        pickup = confidential_client(
            PICKUP_CLIENT_ID, self.pickup_client_secret, [pickup_url + PICKUP_CALLBACK]
        )
        pickup["post_logout_redirect_uris"] = [pickup_url + "/"]
        return [desk, pickup]


def start_oidc(
    port: int,
    clients: Sequence[Mapping[str, Any]],
    state_dir: Path,
    log_path: Path,
    *,
    users: Sequence[TestUser] = USERS,
    timeout: float = 30.0,
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    """Start the provider on 127.0.0.1:`port` with these clients and users; return once it
    serves its discovery document."""
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        raise OidcMissing(f"oidc-provider is missing: run `npm ci --prefix {OIDC_DIR}`")
    state_dir.mkdir(parents=True, exist_ok=True)
    config_path = state_dir / "oidc.json"
    config = {
        "issuer": issuer(port),
        "host": "127.0.0.1",
        "port": port,
        "roles_claim": ROLES_CLAIM,
        "api_audience": API_AUDIENCE,
        "clients": list(clients),
        "users": [asdict(user) for user in users],
    }
    config_path.write_text(json.dumps(config, indent=2))
    config_path.chmod(0o600)  # it holds the clients' secrets
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            ["node", str(PROVIDER), str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=OIDC_DIR,
            start_new_session=detach,
        )
    wait_listening(process, port, log_path, "the OpenID provider", timeout, interval=0.1)
    return process
