"""Verify a letter's evidence bundle: every seal and timestamp, the chain, the documents."""

from __future__ import annotations

import json
from typing import Protocol

from signer.domain.verification import Bundle, Report, StoredRecord, check_chain, check_documents


class SealVerifier(Protocol):
    async def __call__(self, record: StoredRecord, seal: bytes | None, *, claims_sealed: bool) -> Report: ...


class ProofVerifier(Protocol):
    async def __call__(self, name: str, pdf: bytes) -> Report: ...


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
    report.extend(check_documents(bundle.records, bundle.documents))
    for name, pdf in sorted(bundle.proofs.items()):
        report.extend(await check_proof(name, pdf))
    return report
