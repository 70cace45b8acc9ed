"""`lre-desk-token`: bearer tokens for the verification desk on a local run.

In production agents' tokens come from the organisation's OIDC identity provider and the
desk reads its JWKS (VERIFICATION_OIDC_JWKS_URL). Locally there is none: this command
keeps an ES256 signing key and its JWKS in a directory (created on first use) and signs
tokens with it; point VERIFICATION_OIDC_JWKS_FILE at `<dir>/jwks.json`.

    lre-desk-token --dir var/desk --subject alice --role agent
    lre-desk-token --dir var/desk --subject bob --role agent --role supervisor --minutes 30
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

LOCAL_ISSUER = "https://desk.lre.localhost"
LOCAL_AUDIENCE = "lre-verification-desk"
KEY_FILE, JWKS_FILE = "signing-key.pem", "jwks.json"


def ensure_local_keys(directory: Path) -> Path:
    """The JWKS file of the local signing key, both created if missing; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, jwks_path = directory / KEY_FILE, directory / JWKS_FILE
    if not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        jwks_path.unlink(missing_ok=True)
    if not jwks_path.exists():
        public = _private_key(directory).public_key()
        jwk = json.loads(ECAlgorithm.to_jwk(public))
        jwk |= {"kid": _kid(directory), "use": "sig", "alg": "ES256"}
        jwks_path.write_text(json.dumps({"keys": [jwk]}, indent=2))
    return jwks_path


def _private_key(directory: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key((directory / KEY_FILE).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{directory / KEY_FILE} is not an EC key")
    return key


def _kid(directory: Path) -> str:
    public = (
        _private_key(directory)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return uuid.uuid5(uuid.NAMESPACE_OID, public.hex()).hex[:16]


def issue_token(
    directory: Path,
    subject: str,
    roles: list[str],
    *,
    minutes: float = 60,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    now: float | None = None,
) -> str:
    ensure_local_keys(directory)
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "roles": roles,
        "iat": issued,
        "exp": issued + int(minutes * 60),
    }
    return jwt.encode(claims, _private_key(directory), algorithm="ES256", headers={"kid": _kid(directory)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lre-desk-token", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument("--dir", type=Path, required=True, help="where the local key and jwks.json live")
    parser.add_argument("--subject", default="agent@lre.localhost", help="the agent's id (`sub`)")
    parser.add_argument("--role", action="append", choices=("agent", "supervisor"), help="repeatable")
    parser.add_argument("--minutes", type=float, default=60.0, help="lifetime of the token")
    parser.add_argument("--issuer", default=LOCAL_ISSUER)
    parser.add_argument("--audience", default=LOCAL_AUDIENCE)
    args = parser.parse_args(argv)
    token = issue_token(
        args.dir,
        args.subject,
        args.role or ["agent"],
        minutes=args.minutes,
        issuer=args.issuer,
        audience=args.audience,
    )
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
