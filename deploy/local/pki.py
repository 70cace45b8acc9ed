"""The local stack's TEST-ONLY public key infrastructure: certomancer serving the CA, the
time-stamping authority, OCSP and CRLs of `deploy/pki/certomancer.yml` on 127.0.0.1, so the
signer of `make run` seals its records and proofs, labelled "non qualifié".

    python -m deploy.local.pki --dir var/pki --port 8320

Keys are generated into `--dir` on first start and kept, so bundles exported earlier still
verify (`lre verify <bundle> --trust var/pki/root.cert.pem`). The certificates are written
there too, at each start, for the signer to load. The tests serve the same PKI
(`tests/support/pki.py`): never a provider's real one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asn1crypto import pem
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import WSGIRequestHandler, make_server

from deploy.local.platform import LocalPki

# The certificates a platform's signer reads (LocalPki): its seal, chain and the root it trusts.
# What a local platform's PKI writes at each start: the signer's certificates, and the demo
# recipient's personal certificate to sign the AR with (`python -m deploy.local.sign_receipt`).
LOCAL_CERTIFICATES = ("root", "interm", "seal", "recipient")
CONFIG = Path(__file__).resolve().parents[1] / "pki" / "certomancer.yml"
ARCH = ArchLabel("lre-test")
KEYS = (
    "root",
    "interm",
    "interm-ocsp",
    "tsa",
    "seal",
    "seal-retired",
    "recipient",
    "recipient-revoked",
    "recipient-expired",
    "recipient-future",
    "recipient-encipher",
    "rogue-root",
    "rogue-recipient",
)


class QuietHandler(WSGIRequestHandler):
    """No access log line per OCSP or timestamp request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def generate_keys(directory: Path, names: tuple[str, ...] = KEYS) -> None:
    """Fresh P-256 keys, unencrypted PEM, test-only: the tests throw them away with their
    directory, `make run` keeps them in var/pki."""
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        (directory / f"{name}.key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def tsa_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/{ARCH}/tsa/tsa"


def cert_file(directory: Path, label: str) -> Path:
    return directory / f"{label}.cert.pem"


def local_pki(directory: Path, port: int) -> LocalPki:
    """This PKI as the platform's configuration names it: the signer's settings (seal key,
    chain, root, TSA, the root trusted for recipients' certificates) follow from it."""
    return LocalPki(directory, f"http://127.0.0.1:{port}")


def signer_environment(directory: Path, port: int) -> dict[str, str]:
    """The signer's settings for this PKI."""
    return {f"SIGNER_{key}": value for key, value in local_pki(directory, port).signer_values().items()}


def serve(directory: Path, port: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # Only the missing keys: the root and the seal stay, so bundles exported earlier still verify.
    missing = tuple(name for name in KEYS if not (directory / f"{name}.key.pem").exists())
    if missing:
        generate_keys(directory, missing)
    config = CertomancerConfig.from_file(
        str(CONFIG), key_search_dir=str(directory), external_url_prefix=f"http://127.0.0.1:{port}"
    )
    arch = config.get_pki_arch(ARCH)
    for label in LOCAL_CERTIFICATES:
        cert_file(directory, label).write_bytes(
            pem.armor("CERTIFICATE", arch.get_cert(CertLabel(label)).dump())
        )
    app = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)
    make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.pki")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.dir, args.port)


if __name__ == "__main__":
    main()
