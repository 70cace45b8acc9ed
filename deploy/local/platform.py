"""Run the five services as separate processes against given infrastructure.

Used by the local stack (`make run`) and by the end-to-end and fault tests, so both
start the platform the same way.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.local.oidc import API_AUDIENCE, DESK_CLIENT_ID, PICKUP_CLIENT_ID, ROLES_CLAIM, LocalOidc
from deploy.local.processes import stop_process as stop_process
from lre_shared.bus import broker_user

SERVICES = ("archive", "notifier", "pickup", "signer", "verification")
# The provider the local platform's proofs name (signer settings without their prefix):
# made up, and saying so, as the test PKI's seal is "non qualifié".
LOCAL_PROVIDER = {
    "PROVIDER_LEGAL_NAME": "LRE Démo SAS (fictif)",
    "PROVIDER_REGISTRATION": "RCS Paris 000 000 000 (fictif)",
    "PROVIDER_ADDRESS": "1 rue de l'Exemple, 75001 Paris, France",
}
ENV_PREFIX = {name: f"{name.upper()}_" for name in SERVICES}


@dataclass(frozen=True)
class Infrastructure:
    amqp_url: str
    postgres_url: str  # server URL without a database: postgresql://user@host:port
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    smtp_host: str
    smtp_port: int


# Twilio's test credentials format; Prism checks the shape, never the account.
TEST_TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TEST_TWILIO_FROM_NUMBER = "+15005550006"


def ensure_dkim_key(path: Path, selector: str, domain: str) -> str:
    """The DKIM private key (PEM) at `path`, generated on first use (RSA 2048), with the DNS
    record that publishes its public half beside it (`<path>.dns.txt`)."""
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        os.replace(tmp, path)
        record = f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"
        path.with_name(path.name + ".dns.txt").write_text(f'{selector}._domainkey.{domain}. TXT "{record}"\n')
    return path.read_text()


def dkim_public_record(path: Path) -> bytes:
    """The TXT record's value, as a DNS lookup of the selector would return it."""
    line = path.with_name(path.name + ".dns.txt").read_text()
    return line.split('"')[1].encode()


@dataclass(frozen=True)
class LocalPki:
    """The TEST-ONLY PKI of `deploy/pki/certomancer.yml` (served by `deploy/local/pki.py` for
    `make run`, by `tests/support/pki.py` in tests): where its keys and certificates are written,
    and where certomancer answers (TSA, OCSP, CRLs)."""

    directory: Path
    base_url: str

    def file(self, name: str) -> Path:
        return self.directory / name

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/lre-test/tsa/tsa"

    def signer_values(self) -> dict[str, str]:
        """The signer on this PKI (settings without their SIGNER_ prefix): it seals records and
        proofs with the seal key and the TSA, and trusts the root for recipients' certificates
        and for the timestamps on their signatures (the demo recipient's certificate chains to it)."""
        root = json.dumps([str(self.file("root.cert.pem"))])
        return {
            "SEAL_KEY_FILE": str(self.file("seal.key.pem")),
            "SEAL_CERT_FILE": str(self.file("seal.cert.pem")),
            "SEAL_CHAIN_FILES": json.dumps([str(self.file("interm.cert.pem"))]),
            "SEAL_ROOT_FILES": root,
            "TSA_URL": self.tsa_url,
            "RECEIPT_TRUST_ROOT_FILES": root,
        }


@dataclass(frozen=True)
class PlatformConfig:
    infra: Infrastructure
    database_prefix: str  # each service gets <prefix>_<service>
    ports: Mapping[str, int]
    session_secret: str
    code_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))  # HMAC key of one-time codes
    document_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))  # identity documents at rest
    desk_smtp_port: int | None = None  # inbound SMTP of the verification desk; default: its HTTP port + 1
    mail_from: str = "notifications@lre.localhost"
    cookie_secure: bool = False  # plain HTTP on a developer's machine
    # SMS and voice calls: Twilio's API as Prism serves it locally (deploy/local/prism.py),
    # with a test account; without it, SMS and calls fail for good as "not configured".
    twilio_base_url: str | None = None
    twilio_account_sid: str = TEST_TWILIO_ACCOUNT_SID
    twilio_auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    twilio_from_number: str = TEST_TWILIO_FROM_NUMBER
    # Faxes: the email-to-fax gateway's address; the local SMTP catcher keeps them as files.
    fax_gateway_pattern: str = "{number}@fax.localhost"
    # DKIM: the notices' signing key, generated at first run (`ensure_dkim_key`).
    dkim_key_file: Path | None = None
    dkim_selector: str = "lre-local"

    # The signer's test PKI (`make run`'s, or the tests'); without it the signer runs unsealed
    # and trusts no personal certificate.
    pki: LocalPki | None = None
    # RabbitMQ's management API, where `lre-senders` (with the archive's settings) makes sender
    # systems' broker users.
    broker_admin_url: str | None = None
    # The OpenID provider (deploy/local/oidc.py) agents sign in to the desk console with and
    # recipients prove their identity with on the pickup site; without it the desk takes only
    # bearer tokens signed with the local key (`lre-desk-token`) and the pickup site offers no
    # identity provider.
    oidc: LocalOidc | None = None
    # The archive's key for zip links: one per platform, so that a link one replica hands out
    # opens on another (a key per process would make links fail on every other replica).
    zip_link_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # The archive's key for the webhook secrets it stores in its database: a platform started
    # again on a database it already used needs the key it had then.
    webhook_secrets_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def pickup_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['pickup']}/"

    @property
    def desk_url(self) -> str:
        """The verification service's origin (the console is at /desk/)."""
        return f"http://127.0.0.1:{self.ports['verification']}"

    def oidc_clients(self) -> list[dict[str, object]]:
        """The provider's clients for this platform (its desk console and pickup site)."""
        if self.oidc is None:
            return []
        return self.oidc.clients(self.desk_url, self.pickup_url.rstrip("/"))


def default_ports(base: int) -> dict[str, int]:
    return {
        name: base + i for i, name in enumerate(("pickup", "archive", "notifier", "signer", "verification"))
    }


def service_environment(config: PlatformConfig, service: str) -> dict[str, str]:
    infra = config.infra
    values = {
        "AMQP_URL": infra.amqp_url,
        "DATABASE_URL": f"{infra.postgres_url.rstrip('/')}/{config.database_prefix}_{service}",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(config.ports[service]),
    }
    if service in ("archive", "signer"):
        # The platform's own broker user (the tests' publishers, the dead-letter replayer) acts
        # for any sender; sender systems connect with their own (`lre-senders add`).
        values["TRUSTED_PUBLISHERS"] = json.dumps([broker_user(infra.amqp_url)])
    if service == "archive":
        values |= {
            "S3_ENDPOINT": infra.s3_endpoint,
            "S3_ACCESS_KEY": infra.s3_access_key,
            "S3_SECRET_KEY": infra.s3_secret_key,
            "OWN_URL": f"http://127.0.0.1:{config.ports['archive']}",
            "ZIP_LINK_KEY": config.zip_link_key,  # zip links live minutes: a key per platform
            "WEBHOOK_SECRETS_KEY": config.webhook_secrets_key,
            # A sender's webhook receiver on this machine, in plain http: local platforms only.
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOW_PRIVATE": "true",
        }
        if config.broker_admin_url:
            values["BROKER_ADMIN_URL"] = config.broker_admin_url
    elif service == "notifier":
        values |= {
            "SMTP_HOST": infra.smtp_host,
            "SMTP_PORT": str(infra.smtp_port),
            "SMTP_STARTTLS": "false",
            "MAIL_FROM": config.mail_from,
            "PICKUP_URL": config.pickup_url,
            "FAX_GATEWAY_PATTERN": config.fax_gateway_pattern,
        }
        if config.twilio_base_url:
            values |= {
                "TWILIO_BASE_URL": config.twilio_base_url,
                "TWILIO_ACCOUNT_SID": config.twilio_account_sid,
                "TWILIO_AUTH_TOKEN": config.twilio_auth_token,
                "TWILIO_FROM_NUMBER": config.twilio_from_number,
                "TWILIO_RATE_PER_SECOND": "20",
            }
        if config.dkim_key_file is not None:
            domain = config.mail_from.rpartition("@")[2]
            values |= {
                "DKIM_SELECTOR": config.dkim_selector,
                "DKIM_PRIVATE_KEY": ensure_dkim_key(config.dkim_key_file, config.dkim_selector, domain),
            }
    elif service == "pickup":
        values |= {
            "PUBLIC_URL": config.pickup_url,
            "SESSION_SECRET": config.session_secret,
            "COOKIE_SECURE": str(config.cookie_secure).lower(),
            # The local desk has no MMS or fax number: documents by upload or email; codes by SMS
            # only when the notifier has Twilio (Prism) to send them.
            "DOCUMENT_CHANNELS": '["upload", "email"]',
            "SMS_CODES": str(bool(config.twilio_base_url)).lower(),
        }
        if config.oidc is not None:
            # Recipients prove who they are with the local provider (deploy/local/oidc.py), the
            # stand-in for FranceConnect+ (CPCE R.53-1); its users sign in at eidas1..eidas3.
            values |= {
                "IDENTITY_PROVIDER_ISSUER": config.oidc.issuer,
                "IDENTITY_PROVIDER_CLIENT_ID": PICKUP_CLIENT_ID,
                "IDENTITY_PROVIDER_CLIENT_SECRET": config.oidc.pickup_client_secret,
                "IDENTITY_PROVIDER_NAME": "Fournisseur d'identité de test",
                "IDENTITY_PROVIDER_SCOPES": '["openid", "profile"]',
            }
    elif service == "verification":
        from verification.entrypoints.desk_token import LOCAL_AUDIENCE, LOCAL_ISSUER, ensure_local_keys

        smtp_port = config.desk_smtp_port or config.ports[service] + 1
        values |= {
            "CODE_HMAC_KEY": config.code_key,
            "DOCUMENT_KEY": config.document_key,
            "S3_ENDPOINT": infra.s3_endpoint,
            "S3_ACCESS_KEY": infra.s3_access_key,
            "S3_SECRET_KEY": infra.s3_secret_key,
            "INBOUND_SMTP_PORT": str(smtp_port),
            "OWN_URL": config.desk_url,
        }
        if config.oidc is not None:
            # Agents sign in to the console with the provider (its client `lre-desk-console`),
            # which also issues the API's bearer tokens (audience: the desk API's resource).
            values |= {
                "OIDC_ISSUER": config.oidc.issuer,
                "OIDC_AUDIENCE": API_AUDIENCE,
                "OIDC_JWKS_URL": config.oidc.jwks_url,
                "OIDC_ROLES_CLAIM": ROLES_CLAIM,
                "DESK_CONSOLE_CLIENT_ID": DESK_CLIENT_ID,
                "DESK_CONSOLE_CLIENT_SECRET": config.oidc.desk_client_secret,
                # The provider's resource indicator of the desk API (deploy/local/oidc/provider.mjs).
                "DESK_CONSOLE_RESOURCE": f"urn:lre:{API_AUDIENCE}",
                "DESK_COOKIE_SECURE": str(config.cookie_secure).lower(),
            }
        else:
            # Agents' tokens for a local run: `lre-desk-token --dir <this directory>` signs them.
            desk_keys = Path(tempfile.gettempdir()) / f"lre-desk-{config.database_prefix}"
            values |= {
                "OIDC_ISSUER": LOCAL_ISSUER,
                "OIDC_AUDIENCE": LOCAL_AUDIENCE,
                "OIDC_JWKS_FILE": str(ensure_local_keys(desk_keys)),
            }
    elif service == "signer":
        # Every record is copied to the bucket the archive creates with compliance-mode object
        # lock (DESIGN §3), as in production: without these the signer keeps evidence in
        # PostgreSQL only and `archived_at` stays empty.
        values |= {
            "EVIDENCE_S3_ENDPOINT": infra.s3_endpoint,
            "EVIDENCE_S3_ACCESS_KEY": infra.s3_access_key,
            "EVIDENCE_S3_SECRET_KEY": infra.s3_secret_key,
        } | LOCAL_PROVIDER
        if config.pki is not None:
            values |= config.pki.signer_values()
    prefix = ENV_PREFIX[service]
    return {prefix + key: value for key, value in values.items()}


def replica_environment(config: PlatformConfig, service: str, port: int) -> dict[str, str]:
    """What sets another process of `service` apart from the first, on top of
    `service_environment`: its own HTTP port (and the desk's own inbound SMTP port, the next
    one). Queues, databases and buckets stay shared: replicas compete for the same messages."""
    prefix = ENV_PREFIX[service]
    values = {f"{prefix}HTTP_PORT": str(port)}
    if service == "verification":
        values[f"{prefix}INBOUND_SMTP_PORT"] = str(port + 1)
    return values


def start_service(
    config: PlatformConfig,
    service: str,
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
    detach: bool = False,
    module: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Run the service's `main` module, or `module` (a module and its arguments) in its place."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(ENV_PREFIX.values()))}
    env |= service_environment(config, service)
    env |= dict(extra_env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *(module or (f"{service}.main",))],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )


def wait_ready(
    port: int,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = 60.0,
    log_path: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/health/ready"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"service on port {port} exited with {process.returncode}{_tail(log_path)}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"service on port {port} not ready after {timeout:.0f} s{_tail(log_path)}")


def _tail(log_path: Path | None, lines: int = 30) -> str:
    if log_path is None or not log_path.exists():
        return ""
    text = log_path.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- log tail ---\n" + "\n".join(text)
