"""Verify a letter's evidence bundle: every seal and timestamp, the chain and where it ends
(the letter's sealed checkpoint), the documents."""

from __future__ import annotations

import json

from signer.domain.merkle import RecordSeal
from signer.domain.verification import (
    CHECKPOINT_SUBJECT,
    Bundle,
    Report,
    StoredRecord,
    check_chain,
    check_documents,
    check_end,
)
from signer.service_layer.ports import ProofVerifier, SealVerifier


def claims_sealed(record: StoredRecord) -> bool:
    try:
        return bool(json.loads(record.body)["seal"]["sealed"])
    except (ValueError, KeyError, TypeError):
        return True  # an unreadable record is held to the stricter rule: its seal must be there


async def verify_bundle(bundle: Bundle, check_seal: SealVerifier, check_proof: ProofVerifier) -> Report:
    report = Report()
    for record in bundle.records:
        seal = bundle.seals.get(record.name)
        report.extend(await check_seal(record, seal, claims_sealed=claims_sealed(record)))
    report.extend(check_chain(bundle.records))
    if bundle.checkpoint is not None:
        report.extend(await check_checkpoint_seal(bundle.checkpoint, bundle.checkpoint_seal, check_seal))
    report.extend(check_end(bundle.records, bundle.checkpoint))
    report.extend(check_documents(bundle.records, bundle.documents))
    for name, pdf in sorted(bundle.proofs.items()):
        report.extend(await check_proof(name, pdf))
    return report


async def check_checkpoint_seal(statement: bytes, seal: bytes | None, check_seal: SealVerifier) -> Report:
    """The checkpoint is sealed as a record is (same key, same timestamp rules); a seal that
    does not cover it is named here in the checkpoint's terms."""
    checkpoint = StoredRecord(CHECKPOINT_SUBJECT, statement)
    if seal is not None:
        try:
            covered = RecordSeal.from_bytes(seal).covers(statement)
        except Exception:  # unreadable: check_seal names it
            covered = True
        if not covered:
            report = Report()
            report.fail(
                CHECKPOINT_SUBJECT,
                "its seal does not match it: the checkpoint was altered after sealing",
            )
            return report
    return await check_seal(checkpoint, seal, claims_sealed=True)
