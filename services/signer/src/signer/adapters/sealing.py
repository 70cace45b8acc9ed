"""Seals with pyHanko: CAdES detached signatures bound to an RFC 3161 timestamp.

The private key is loaded once, when the sealer is built: from a file, or, for a key held
in an HSM, as a PKCS#11 session opened and logged in once, with the key's handle and the
certificate found on the token once (pyHanko's `PKCS11Signer`); the key never leaves the HSM.

Records waiting to be sealed at the same moment form a Merkle batch (`domain/merkle.py`):
one CAdES-T seal and one timestamp for the batch, an inclusion proof for each record. A
batch of one when idle (no added latency), as many as have queued while the previous batch
was being sealed under load. Sealing runs in a worker thread: building CMS in pure Python
and the TSA round trip would otherwise stall the event loop that keeps consuming.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import x509
from pkcs11 import PKCS11Error
from pkcs11.exceptions import UserAlreadyLoggedIn
from pyhanko.config.pkcs11 import TokenCriteria
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession

from signer.adapters.worker_loop import WorkerLoop
from signer.domain import merkle
from signer.domain.evidence import UNSEALED, SealAssurance

log = logging.getLogger(__name__)

DIGEST = "sha256"


class SealKeyError(RuntimeError):
    """The configured seal key cannot be used: the service must not start."""


def load_signer(
    key_file: Path,
    *,
    cert_file: Path | None = None,
    chain_files: tuple[Path, ...] = (),
    password: bytes | None = None,
) -> SimpleSigner:
    """The provider's seal key and certificate, from a PKCS#12 file or PEM/DER files."""
    chain = [str(p) for p in chain_files]
    signer: SimpleSigner | None
    if key_file.suffix.lower() in {".p12", ".pfx"}:
        signer = SimpleSigner.load_pkcs12(str(key_file), ca_chain_files=chain, passphrase=password)  # type: ignore[no-untyped-call]
    else:
        if cert_file is None:
            raise SealKeyError(f"seal key {key_file} is a PEM/DER key: its certificate file is needed too")
        signer = SimpleSigner.load(  # type: ignore[no-untyped-call]
            str(key_file), str(cert_file), ca_chain_files=chain, key_passphrase=password
        )
    if signer is None:
        raise SealKeyError(f"cannot load the seal key from {key_file}: wrong file or password")
    return signer


def load_pkcs11_signer(
    module: Path,
    *,
    token_label: str,
    pin: str,
    key_label: str,
    cert_label: str | None = None,
    chain_files: tuple[Path, ...] = (),
) -> PKCS11Signer:
    """The seal key in an HSM: one session, logged in once, kept for the life of the process;
    the key handle and the certificate are looked up now, so a wrong label stops the start."""
    criteria = TokenCriteria(label=token_label)
    try:
        try:
            session = open_pkcs11_session(str(module), token_criteria=criteria, user_pin=pin)
        except UserAlreadyLoggedIn:
            # PKCS#11 logs in the application, not the session: another session of this
            # process is logged in already, and this one shares that login.
            session = open_pkcs11_session(str(module), token_criteria=criteria)
    except (PKCS11Error, OSError, RuntimeError) as e:
        # The PIN is never part of the message.
        raise SealKeyError(
            f"cannot open the HSM token {token_label!r} through {module}: {e.__class__.__name__} {e}"
        ) from e
    chain = list(load_certs_from_pemder([str(p) for p in chain_files]))  # type: ignore[no-untyped-call]
    signer = PKCS11Signer(session, cert_label=cert_label or key_label, key_label=key_label, ca_chain=chain)
    try:
        certificate: x509.Certificate = signer.signing_cert  # loads the key handle and certificate, once
    except (PKCS11Error, RuntimeError) as e:
        session.close()
        raise SealKeyError(
            f"HSM token {token_label!r}: no usable seal key {key_label!r} with its certificate"
            f" {cert_label or key_label!r}: {e}"
        ) from e
    # ECDSA: hash here, sign the digest in the HSM (CKM_ECDSA). Every PKCS#11 module has that
    # mechanism, not every one has the hash-and-sign ones (SoftHSM2 has no CKM_ECDSA_SHA256);
    # the key never leaves the HSM either way.
    signer.use_raw_mechanism = certificate.public_key.algorithm == "ec"
    return signer


def timestamper(tsa_url: str) -> HTTPTimeStamper:
    """An RFC 3161 client that keeps its HTTP session (on the worker loop that first uses it)."""
    return HTTPTimeStamper(tsa_url, timeout=10, session=LazySession())  # type: ignore[no-untyped-call]


class CadesSealer:
    """Seals records in Merkle batches, each batch statement as CAdES-T (a CAdES-BES detached
    signature plus a signature timestamp)."""

    def __init__(
        self,
        signer: Signer,
        timestamper: TimeStamper,
        *,
        qualified: bool = False,
        max_batch: int = 1024,
    ) -> None:
        self._signer = signer
        self._timestamper = timestamper
        self._assurance = SealAssurance(sealed=True, qualified=qualified)
        self._max_batch = max_batch
        self._pending: list[tuple[bytes, asyncio.Future[bytes]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._signing = WorkerLoop("evidence-signing")

    @classmethod
    def from_files(
        cls,
        key_file: Path,
        *,
        tsa_url: str,
        cert_file: Path | None = None,
        chain_files: tuple[Path, ...] = (),
        password: bytes | None = None,
    ) -> CadesSealer:
        signer = load_signer(key_file, cert_file=cert_file, chain_files=chain_files, password=password)
        return cls(signer, timestamper(tsa_url))

    @property
    def assurance(self) -> SealAssurance:
        return self._assurance

    @property
    def certificate(self) -> x509.Certificate:
        cert: x509.Certificate = self._signer.signing_cert
        return cert

    async def seal(self, record: bytes) -> bytes:
        """The record's seal (`RecordSeal` bytes), once its batch is sealed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending.append((record, future))
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._worker = loop.create_task(self._drain(), name="evidence-sealer")
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                seals = await asyncio.to_thread(self.seal_batch_blocking, [record for record, _ in batch])
            except Exception as e:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
            else:
                for (_, future), seal in zip(batch, seals, strict=True):
                    if not future.done():
                        future.set_result(seal)

    async def close(self) -> None:
        """Close the TSA session and stop the signing thread (tools and tests; the service
        leaves it to process exit, see bootstrap)."""
        session = getattr(self._timestamper, "_session", None)
        if isinstance(session, LazySession):
            await self._signing.run_async(session.close())  # type: ignore[no-untyped-call]
        self._signing.close()

    def seal_statement_blocking(self, statement: bytes) -> bytes:
        """CAdES-T over `statement`, DER, made on the signing thread."""
        signed = self._signing.run(
            self._signer.async_sign_general_data(
                statement, DIGEST, detached=True, use_cades=True, timestamper=self._timestamper
            )
        )
        der: bytes = signed.dump()
        return der

    def seal_batch_blocking(self, records: Sequence[bytes]) -> list[bytes]:
        leaves = [merkle.leaf_hash(record) for record in records]
        statement = merkle.statement(merkle.root_of(leaves), len(leaves))
        cms = self.seal_statement_blocking(statement)
        return [seal.to_bytes() for seal in merkle.seal_batch(records, cms, statement)]


class UnsealedSealer:
    """No seal key configured: records say so ("non scellé"), and nothing is signed."""

    def __init__(self) -> None:
        log.warning(
            "evidence records will NOT be sealed: no seal key configured (SIGNER_SEAL_KEY_FILE);"
            " each record says so"
        )

    @property
    def assurance(self) -> SealAssurance:
        return UNSEALED

    async def seal(self, record: bytes) -> None:
        return None
