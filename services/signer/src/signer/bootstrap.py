"""Wires the signer's handlers into the bus."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import x509
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign.signers import Signer

from lre_shared import objects, units
from lre_shared.bus import Bus, Transaction
from lre_shared.contracts import (
    CheckSignedReceipt,
    IssueProofLink,
    IssueReceiptForm,
    ListEvidence,
    ListProofs,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from signer.adapters.evidence_store import S3EvidenceStore
from signer.adapters.pdf import PadesSealer, render_receipt_form
from signer.adapters.postgres import unit_of_work
from signer.adapters.proof_links import S3ProofLinks
from signer.adapters.receipt_check import ReceiptChecker, read_trust_roots
from signer.adapters.sealing import (
    CadesSealer,
    UnsealedSealer,
    load_pkcs11_signer,
    load_signer,
    timestamper,
)
from signer.domain.evidence import SealAssurance
from signer.domain.proofs import Provider
from signer.entrypoints.archiver import EvidenceArchiver
from signer.entrypoints.checkpoint_backfill import CheckpointBackfill
from signer.entrypoints.proof_issuer import ProofIssuer
from signer.entrypoints.tree_head_signer import TreeHeadSigner
from signer.service_layer import consent_evidence, handlers, identity_evidence, proofs_on_demand, receipts
from signer.service_layer.ports import EvidenceSealer, UnitOfWork
from signer.settings import SignerSettings

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)

R = TypeVar("R")


def in_unit_of_work(
    handler: Callable[[Any, UnitOfWork], Awaitable[R]],
) -> Callable[[Any, Transaction], Awaitable[R]]:
    """A use case as the bus calls it: inside the unit of work over the message's transaction."""
    return units.in_unit_of_work(unit_of_work, handler)


def load_seal_key(settings: SignerSettings) -> Signer | None:
    """The seal key is loaded here, once, at start, from the HSM or a file; a key that cannot
    be used stops the start."""
    if settings.seal_pkcs11_module is not None:
        # the settings require the token label, PIN and key label with the module
        assert settings.seal_pkcs11_token_label is not None
        assert settings.seal_pkcs11_pin is not None
        assert settings.seal_pkcs11_key_label is not None
        return load_pkcs11_signer(
            settings.seal_pkcs11_module,
            token_label=settings.seal_pkcs11_token_label,
            pin=settings.seal_pkcs11_pin.get_secret_value(),
            key_label=settings.seal_pkcs11_key_label,
            cert_label=settings.seal_pkcs11_cert_label,
            chain_files=settings.seal_chain_files,
        )
    if settings.seal_key_file is None:
        return None
    password = settings.seal_key_password
    return load_signer(
        settings.seal_key_file,
        cert_file=settings.seal_cert_file,
        chain_files=settings.seal_chain_files,
        password=None if password is None else password.get_secret_value().encode(),
    )


def build_sealer(settings: SignerSettings, key: Signer | None = None) -> EvidenceSealer:
    signer = key or load_seal_key(settings)
    if signer is None:
        return UnsealedSealer()
    assert settings.tsa_url is not None  # the settings refuse a key without a TSA
    # "qualifié" only as configured, and the settings refuse a qualified configuration
    # without an HSM-held key and a qualified TSA (eIDAS art. 44: fail closed).
    return CadesSealer(signer, timestamper(settings.tsa_url), qualified=settings.qualified)


def load_roots(files: tuple[Path, ...]) -> list[x509.Certificate]:
    return list(load_certs_from_pemder([str(p) for p in files]))  # type: ignore[no-untyped-call]


def provider(settings: SignerSettings, assurance: SealAssurance) -> Provider:
    """The provider as every proof names it; a proof must not leave its reader to guess."""
    unset = [
        f"SIGNER_{name.upper()}"
        for name in ("provider_legal_name", "provider_registration", "provider_address")
        if getattr(settings, name) is None
    ]
    if unset:
        log.warning("proofs will say 'non renseigné' for the provider's %s: set them", ", ".join(unset))
    return Provider(
        legal_name=settings.provider_legal_name,
        registration=settings.provider_registration,
        address=settings.provider_address,
        policy_id=settings.policy_id,
        assurance=assurance,
    )


def build_proof_sealer(
    settings: SignerSettings, key: Signer | None, named: Provider | None = None
) -> PadesSealer | None:
    if key is None:
        return None
    # Sealed with this key, qualified exactly when the records are (`build_sealer`).
    named = named or provider(settings, SealAssurance(sealed=True, qualified=settings.qualified))
    if not settings.seal_root_files:
        log.warning("no proof PDFs will be issued: no root for the seal certificate (SIGNER_SEAL_ROOT_FILES)")
        return None
    assert settings.tsa_url is not None
    return PadesSealer(
        key,
        timestamper(settings.tsa_url),
        trust_roots=load_roots(settings.seal_root_files),
        provider=named,
        lta=settings.proof_lta,
        render_processes=settings.proof_render_processes,
    )


def bootstrap(settings: SignerSettings, sealer: EvidenceSealer | None = None) -> ServiceRuntime:
    bus = Bus(settings, Service.signer)
    policy = settings.policy_id
    key = None if sealer is not None else load_seal_key(settings)
    seal = sealer or build_sealer(settings, key)
    named = provider(settings, seal.assurance)
    proofs = build_proof_sealer(settings, key, named)
    # Every event of a letter's life, and the consent registry's (CPCE L.100).
    recordings = {**handlers.RECORDINGS, **consent_evidence.RECORDINGS, **identity_evidence.RECORDINGS}
    for message_type, recording in recordings.items():
        bus.subscribe(
            message_type,
            in_unit_of_work(
                partial(
                    handlers.record_event,
                    recording=recording,
                    policy_id=policy,
                    sealer=seal,
                    proofs=proofs is not None,
                )
            ),
        )
    # Queries (request/reply) that change nothing: they skip the inbox.
    bus.subscribe(
        ListEvidence,
        in_unit_of_work(partial(handlers.list_evidence, trusted=settings.trusted_publishers)),
        idempotent=False,
    )
    bus.subscribe(
        IssueReceiptForm,
        in_unit_of_work(
            partial(
                receipts.issue_receipt_form,
                policy_id=policy,
                render=partial(render_receipt_form, provider=named),
            )
        ),
        idempotent=False,
    )
    # Proofs on demand (CPCE R.53-3 IV), for their letter's own sender only.
    trusted = settings.trusted_publishers
    bus.subscribe(
        ListProofs, in_unit_of_work(partial(proofs_on_demand.list_proofs, trusted=trusted)), idempotent=False
    )
    links = build_proof_links(settings)
    if links is not None:
        bus.subscribe(
            IssueProofLink,
            in_unit_of_work(partial(proofs_on_demand.issue_proof_link, trusted=trusted, links=links)),
            idempotent=False,
        )
    receipt_roots = read_trust_roots(settings.receipt_trust_root_files)
    if not receipt_roots:
        log.warning(
            "no trust roots for personal certificates (SIGNER_RECEIPT_TRUST_ROOT_FILES: %s):"
            " every signed acknowledgement of receipt will be refused as untrusted",
            ", ".join(map(str, settings.receipt_trust_root_files)) or "not set",
        )
    checker = ReceiptChecker(receipt_roots)
    bus.subscribe(
        CheckSignedReceipt,
        in_unit_of_work(partial(receipts.check_signed_receipt, checker=checker)),
        idempotent=False,
    )
    archiver = build_archiver(settings)
    tree_heads = (
        None
        if settings.log_tree_head_seconds is None
        else TreeHeadSigner(seal, every_seconds=settings.log_tree_head_seconds)
    )
    # Letters settled before checkpoints existed get theirs, once, beside the consumers.
    backfill = CheckpointBackfill(seal)
    # Proof PDFs are rendered and sealed after their records commit, off the event path.
    issuer = (
        None
        if proofs is None
        else ProofIssuer(
            proofs,
            policy_id=policy,
            assurance=seal.assurance,
            # One proof more in flight than rendering processes: the next one is read and
            # the last one sealed while the processes render.
            concurrency=settings.proof_render_processes + 1,
        )
    )
    background = [task for task in (archiver, tree_heads, backfill, issuer) if task is not None]
    exports = [] if links is None else [_ensure_exports(links)]
    return ServiceRuntime(
        bus=bus,
        migrations=MIGRATIONS,
        on_started=[*exports, *(task.start for task in background)],
        # The sealers and the checker are not closed here: stopping hooks run while in-flight
        # messages may still use them; their threads are daemons and end with the process.
        # The rendering processes end once the proof issuer has stopped.
        on_stopping=[
            *(task.stop for task in background),
            *([] if proofs is None else [proofs.stop_rendering]),
        ],
    )


def evidence_objects(settings: SignerSettings) -> objects.Store | None:
    """The object store of the evidence bucket; None when evidence stays in PostgreSQL only."""
    if settings.evidence_s3_endpoint is None:
        return None
    assert settings.evidence_s3_access_key is not None  # the settings require both keys
    assert settings.evidence_s3_secret_key is not None
    return objects.Store(
        settings.evidence_s3_endpoint,
        settings.evidence_s3_access_key.get_secret_value(),
        settings.evidence_s3_secret_key.get_secret_value(),
        settings.evidence_s3_region,
        public_endpoint=settings.evidence_s3_public_endpoint,
    )


def build_archiver(settings: SignerSettings) -> EvidenceArchiver | None:
    store = evidence_objects(settings)
    if store is None:
        return None
    return EvidenceArchiver(
        S3EvidenceStore(store, settings.evidence_bucket),
        retention=timedelta(days=settings.evidence_retention_days),
        poll_seconds=settings.evidence_archive_poll_seconds,
    )


def build_proof_links(settings: SignerSettings) -> S3ProofLinks | None:
    """Download links need the object store; without it (evidence in PostgreSQL only) the
    signer takes no `issue_proof_link.v1`, and a sender's query times out."""
    store = evidence_objects(settings)
    if store is None:
        return None
    return S3ProofLinks(
        store,
        evidence_bucket=settings.evidence_bucket,
        exports_bucket=settings.exports_bucket,
        lifetime=timedelta(seconds=settings.proof_link_seconds),
    )


def _ensure_exports(links: S3ProofLinks) -> Callable[[Any], Awaitable[None]]:
    async def ensure(_: Any) -> None:
        await links.ensure_bucket()

    return ensure
