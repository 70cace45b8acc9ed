"""Wires the signer's handlers into the bus."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

from lre_shared.bus import Bus
from lre_shared.messages import (
    LetterAccepted,
    LetterDeposited,
    LetterRefused,
    NoticeFailed,
    NoticeSent,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from signer.adapters.evidence_store import S3EvidenceStore
from signer.adapters.sealing import CadesSealer, SealKeyError, UnsealedSealer
from signer.entrypoints.archiver import EvidenceArchiver
from signer.service_layer import handlers
from signer.service_layer.ports import EvidenceSealer
from signer.settings import SignerSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def build_sealer(settings: SignerSettings) -> EvidenceSealer:
    """The seal key is loaded here, once, at start; a key that cannot be used stops the start."""
    if settings.seal_pkcs11_module is not None:
        raise SealKeyError("PKCS#11 seal keys are not supported yet: refusing to start (fail closed)")
    if settings.seal_key_file is None:
        return UnsealedSealer()
    assert settings.tsa_url is not None  # the settings refuse a key without a TSA
    password = settings.seal_key_password
    return CadesSealer.from_files(
        settings.seal_key_file,
        tsa_url=settings.tsa_url,
        cert_file=settings.seal_cert_file,
        chain_files=settings.seal_chain_files,
        password=None if password is None else password.get_secret_value().encode(),
    )


def bootstrap(settings: SignerSettings, sealer: EvidenceSealer | None = None) -> ServiceRuntime:
    bus = Bus(settings, Service.signer)
    policy = settings.policy_id
    seal = sealer or build_sealer(settings)
    bus.subscribe(LetterDeposited, partial(handlers.on_letter_deposited, policy_id=policy, sealer=seal))
    bus.subscribe(NoticeSent, partial(handlers.on_notice_sent, policy_id=policy, sealer=seal))
    bus.subscribe(NoticeFailed, partial(handlers.on_notice_failed, policy_id=policy, sealer=seal))
    bus.subscribe(LetterAccepted, partial(handlers.on_letter_accepted, policy_id=policy, sealer=seal))
    bus.subscribe(LetterRefused, partial(handlers.on_letter_refused, policy_id=policy, sealer=seal))
    archiver = build_archiver(settings)
    return ServiceRuntime(
        bus=bus,
        migrations=MIGRATIONS,
        on_started=[] if archiver is None else [archiver.start],
        # The sealer is not closed here: stopping hooks run while in-flight messages may
        # still be sealing; its thread is a daemon and ends with the process.
        on_stopping=[] if archiver is None else [archiver.stop],
    )


def build_archiver(settings: SignerSettings) -> EvidenceArchiver | None:
    if settings.evidence_s3_endpoint is None:
        return None
    assert settings.evidence_s3_access_key is not None  # the settings require both keys
    assert settings.evidence_s3_secret_key is not None
    store = S3EvidenceStore(
        settings.evidence_s3_endpoint,
        settings.evidence_s3_access_key.get_secret_value(),
        settings.evidence_s3_secret_key.get_secret_value(),
        settings.evidence_s3_region,
        settings.evidence_bucket,
    )
    return EvidenceArchiver(
        store,
        retention=timedelta(days=settings.evidence_retention_days),
        poll_seconds=settings.evidence_archive_poll_seconds,
    )
