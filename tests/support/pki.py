"""The TEST-ONLY public key infrastructure, served over HTTP while tests run.

`deploy/pki/certomancer.yml` describes it (`deploy.local.pki` serves it for `make run`): a
root and an intermediate CA, the provider's evidence seal, a time-stamping authority, OCSP
and CRLs, and a recipient's personal certificate (plus a revoked one, and one from a CA
nobody trusts). Keys are generated here, into a temporary directory, at every test session:
no private key is ever committed. certomancer's Animator (a WSGI app) is served by werkzeug
on 127.0.0.1 on a free port, so the TSA, OCSP and CRL URLs written into the certificates
are real and answer.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from asn1crypto import pem, tsp, x509
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import CertLabel, CertomancerConfig, PKIArchitecture, ServiceLabel
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from werkzeug.serving import make_server

from deploy.local.pki import ARCH, CONFIG, LOCAL_CERTIFICATES, QuietHandler, generate_keys
from deploy.local.platform import LocalPki


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class TestPki:
    """The running test PKI: where its services answer and its files are."""

    __test__ = False  # not a test class, for pytest

    base_url: str
    directory: Path
    config: CertomancerConfig

    @property
    def arch(self) -> PKIArchitecture:
        return self.config.get_pki_arch(ARCH)

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/lre-test/tsa/tsa"

    def cert(self, label: str) -> x509.Certificate:
        return self.arch.get_cert(CertLabel(label))

    def cert_file(self, label: str) -> Path:
        path = self.directory / f"{label}.cert.pem"
        if not path.exists():
            path.write_bytes(pem.armor("CERTIFICATE", self.cert(label).dump()))
        return path

    def key_file(self, label: str) -> Path:
        return self.directory / f"{label}.key.pem"

    def pkcs12_file(self, label: str, password: bytes) -> Path:
        path = self.directory / f"{label}.p12"
        path.write_bytes(self.arch.package_pkcs12(CertLabel(label), password=password))
        return path

    @property
    def root_file(self) -> Path:
        return self.cert_file("root")

    @property
    def chain_files(self) -> tuple[Path, ...]:
        """The intermediate certificates between a leaf and the root."""
        return (self.cert_file("interm"),)

    def timestamper(self, at: datetime | None = None) -> TimeStamper:
        """The test TSA, for signature timestamps: over HTTP (now), or, `at` a given time, the
        same TSA key answering in process as if it were then."""
        if at is None:
            return HTTPTimeStamper(self.tsa_url)
        return _TsaAt(self.arch, at)

    def local(self) -> LocalPki:
        """This PKI as a platform's configuration names it (`deploy/local/platform.py`), its
        certificates written where the signer reads them."""
        for label in LOCAL_CERTIFICATES:
            self.cert_file(label)
        return LocalPki(self.directory, self.base_url)

    def signer_environment(self) -> dict[str, str]:
        """A platform's signer on this PKI: it seals evidence and proofs (the zip's envelope
        pli_<number>.pdf among them) with the seal key and this TSA, and trusts the root for
        signed receipts."""
        root = json.dumps([str(self.root_file)])
        return {
            "SIGNER_RECEIPT_TRUST_ROOT_FILES": root,
            "SIGNER_SEAL_KEY_FILE": str(self.key_file("seal")),
            "SIGNER_SEAL_CERT_FILE": str(self.cert_file("seal")),
            "SIGNER_SEAL_CHAIN_FILES": json.dumps([str(p) for p in self.chain_files]),
            "SIGNER_SEAL_ROOT_FILES": root,
            "SIGNER_TSA_URL": self.tsa_url,
        }


class _TsaAt(TimeStamper):
    def __init__(self, arch: PKIArchitecture, at: datetime) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._tsa = arch.service_registry.summon_timestamper(ServiceLabel("tsa"), at_time=at)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self._tsa.request_tsa_response(req)


@contextmanager
def running_pki(directory: Path) -> Iterator[TestPki]:
    """Generate the keys into `directory` and serve the PKI until the block ends."""
    generate_keys(directory)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    config = CertomancerConfig.from_file(
        str(CONFIG), key_search_dir=str(directory), external_url_prefix=base_url
    )
    app = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="certomancer", daemon=True)
    thread.start()
    try:
        yield TestPki(base_url=base_url, directory=directory, config=config)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPki]:
    with running_pki(tmp_path_factory.mktemp("pki")) as pki:
        yield pki
