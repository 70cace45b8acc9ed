"""Verify a letter's evidence bundle: every seal and timestamp, the chain and where it ends
(the letter's sealed checkpoint), the documents."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePosixPath

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
from signer.service_layer.ports import ProofAttachments, ProofVerifier, SealVerifier


def claims_sealed(record: StoredRecord) -> bool:
    try:
        return bool(json.loads(record.body)["seal"]["sealed"])
    except (ValueError, KeyError, TypeError):
        return True  # an unreadable record is held to the stricter rule: its seal must be there


async def verify_bundle(
    bundle: Bundle,
    check_seal: SealVerifier,
    check_proof: ProofVerifier,
    attachments: ProofAttachments | None = None,
) -> Report:
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
        if attachments is not None:
            report.extend(await check_attached(name, attachments(pdf), bundle, check_seal))
    return report


async def check_attached(
    proof: str, files: Mapping[str, bytes], bundle: Bundle, check_seal: SealVerifier
) -> Report:
    """The sealed records a proof carries: each the same, byte for byte, as the bundle's record
    at its place, seal included; one the bundle lacks has its own seal checked."""
    report = Report()
    subject = f"proof {proof}"
    attached = sorted(n for n in files if n.endswith(".json") and not n.endswith(".seal.json"))
    if not attached:
        report.notes.append(f"{subject}: carries no evidence record (issued before proofs carried them)")
        return report
    in_bundle = {PurePosixPath(r.name).name: r for r in bundle.records}
    for name in attached:
        body, seal = files[name], files.get(name.removesuffix(".json") + ".seal.json")
        kept = in_bundle.get(name)
        if kept is None:
            record = StoredRecord(f"{subject}, attached {name}", body)
            report.extend(await check_seal(record, seal, claims_sealed=claims_sealed(record)))
        elif kept.body != body:
            report.fail(subject, f"carries a record {name} that differs from the bundle's {kept.name}")
        elif seal != bundle.seals.get(kept.name):
            report.fail(subject, f"carries a seal of {name} that differs from the bundle's")
        else:
            report.passed.append(f"{subject}: carries {kept.name} and its seal, as the bundle holds them")
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
