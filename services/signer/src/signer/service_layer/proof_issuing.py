"""Proof PDFs, issued off the event path.

An event's evidence record is sealed and stored in the transaction of its message; rendering
and sealing its human proof (CPCE R.53-2: preuve de dépôt; R.53-3: preuves de réception, de
refus, de non-réclamation) takes a hundred times longer, so it is not done there. The record's
transaction leaves a job instead (`request_proofs`), committed with the record or not at all:
a recorded event's proof is never forgotten. After the commit the proof issuer
(`entrypoints/proof_issuer.py`) takes the job (`issue_due`), renders and seals the PDF with no
transaction open and no lock held, then stores it and publishes `ProofIssued` (through the
outbox) in one short transaction, which also drops the job.

The envelope `pli_<number>.pdf` is asked for again with every record of a settled letter; a
request that finds the envelope's job still waiting replaces it, so records that come close
together are attested by one envelope rendered from the chain as it then stands. A request
that comes while the envelope is being made leaves its job behind for the next pass.

A job whose issuer died is taken again when its lease ends. An event's proof is stored once
(`Proofs.add`); a second rendering of it (a lease ended under a slow issuer) is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, replace
from uuid import UUID

from lre_shared.contracts import ProofIssued
from signer.domain.evidence import FINAL_EVENTS, EvidenceEvent, SealAssurance
from signer.domain.proofs import (
    AttachedRecord,
    EvidenceFact,
    LetterFacts,
    ProofContent,
    ProofKind,
    deposit_facts,
    envelope,
    proof,
)
from signer.service_layer.ports import (
    ChainedRecord,
    IssuedProof,
    ProofJob,
    ProofSealer,
    UnitOfWork,
    UnitsOfWork,
)

log = logging.getLogger(__name__)

# The proof of each event that has one (the envelope attests every event, not one).
PROOF_KINDS = {kind.event: kind for kind in ProofKind if kind is not ProofKind.envelope}


def fact_of(record: ChainedRecord) -> EvidenceFact:
    return EvidenceFact(record.event, record.event_time, str(record.evidence_id), record.record_sha256)


async def request_proofs(uow: UnitOfWork, *, letter_id: UUID, recorded: EvidenceFact) -> None:
    """In the transaction that recorded `recorded` (the last of the letter's chain): ask
    for its proof, where its event has one, and for the envelope once the letter is settled.
    A deposit recorded after the decision (its queue lagged, or it was replayed from the
    dead-letter queue) also asks for the proofs that waited for it (CPCE R.53-3): the order of
    the queues loses no proof."""
    chain = await uow.evidence.facts(letter_id)
    due = [recorded] if recorded.event in PROOF_KINDS else []
    if recorded.event is EvidenceEvent.submission_acceptance:
        due += [f for f in chain if f.event in PROOF_KINDS and f.event is not recorded.event]
    for fact in due:
        await uow.proof_jobs.request(letter_id, PROOF_KINDS[fact.event], UUID(fact.evidence_id))
    if any(f.event in FINAL_EVENTS for f in chain):
        await uow.proof_jobs.request(letter_id, ProofKind.envelope, UUID(chain[-1].evidence_id))


async def letter_facts(
    uow: UnitOfWork, letter_id: UUID, *, policy_id: str, kind: ProofKind
) -> LetterFacts | None:
    """What every proof of the letter repeats, from its deposit record; None (and a warning)
    when the letter has no deposit on record."""
    deposit = await uow.evidence.deposit(letter_id)
    if deposit is None:
        log.warning(
            "no %s proof: no deposit on record for this letter",
            kind.value,
            extra={"letter_id": str(letter_id)},
        )
        return None
    return deposit_facts(json.loads(deposit), policy_id=policy_id)


@dataclass(frozen=True)
class Prepared:
    """A proof ready to render: what it says, and the record it is filed under."""

    content: ProofContent
    item_number: str
    evidence_id: UUID


async def prepare(
    uow: UnitOfWork, job: ProofJob, *, policy_id: str, assurance: SealAssurance
) -> Prepared | None:
    """The job's proof as the journal now stands; None when there is nothing to issue: the
    event's proof is issued already, or the letter has no deposit on record yet (its deposit's
    record asks again)."""
    if job.kind is not ProofKind.envelope and await uow.proofs.issued(job.letter_id, job.kind):
        return None
    facts = await letter_facts(uow, job.letter_id, policy_id=policy_id, kind=job.kind)
    if facts is None:
        return None
    chain = await uow.evidence.chain(job.letter_id)
    if job.kind is ProofKind.envelope:
        attested = list(chain)
        content = envelope(facts, [fact_of(r) for r in chain], assurance)
    else:
        attested = [r for r in chain if r.evidence_id == job.evidence_id]
        if not attested:
            log.warning("no %s proof: its record is not in the chain", job.kind.value)
            return None
        content = proof(job.kind, facts, fact_of(attested[0]), assurance)
    # The sealed records it attests go inside it: the event's record; every record for the
    # envelope. Rendered in before the PAdES seal, which then covers them too.
    records = tuple(AttachedRecord(r.seq, r.body, r.seal) for r in attested)
    return Prepared(replace(content, evidence=records), facts.item_number, attested[-1].evidence_id)


async def keep(uow: UnitOfWork, job: ProofJob, prepared: Prepared, pdf: bytes) -> None:
    """Store the sealed proof and publish it, unless the event's proof was stored meanwhile;
    the envelope replaces the one before it (and goes to the evidence bucket again)."""
    sha256 = hashlib.sha256(pdf).hexdigest()
    made = prepared.content
    issued = IssuedProof(job.letter_id, job.kind, prepared.evidence_id, made.filename, pdf, sha256)
    if job.kind is ProofKind.envelope:
        await uow.proofs.replace(issued)
    elif not await uow.proofs.add(issued):
        return  # this event's proof was issued already
    await uow.publish(
        ProofIssued(
            correlation_id=job.letter_id,
            item_number=prepared.item_number,
            kind=job.kind.contract,
            filename=made.filename,
            pdf=pdf,
            sha256=sha256,
        )
    )


async def issue(
    transactions: UnitsOfWork,
    job: ProofJob,
    *,
    proofs: ProofSealer,
    policy_id: str,
    assurance: SealAssurance,
) -> None:
    """Issue the job's proof: read what it says, render and seal it outside any transaction,
    then store and publish it and drop the job in one."""
    async with transactions() as uow:
        prepared = await prepare(uow, job, policy_id=policy_id, assurance=assurance)
        if prepared is None:
            await uow.proof_jobs.done(job)
            return
    pdf = await proofs.seal_proof(prepared.content)
    async with transactions() as uow:
        await keep(uow, job, prepared, pdf)
        await uow.proof_jobs.done(job)


async def issue_due(
    transactions: UnitsOfWork,
    *,
    proofs: ProofSealer,
    policy_id: str,
    assurance: SealAssurance,
    batch: int = 8,
    concurrency: int = 1,
    lease_seconds: float = 300.0,
) -> int:
    """Issue the oldest waiting proofs, at most `batch`, `concurrency` at a time; how many jobs
    were taken (0: none was waiting). A proof that fails is logged and left to its lease: it
    is tried again after."""
    async with transactions() as uow:
        jobs = await uow.proof_jobs.claim(batch, lease_seconds=lease_seconds)
    slots = asyncio.Semaphore(concurrency)

    async def one(job: ProofJob) -> None:
        async with slots:
            try:
                await issue(transactions, job, proofs=proofs, policy_id=policy_id, assurance=assurance)
            except Exception:
                log.exception(
                    "%s proof not issued (attempt %d); tried again in %.0f s",
                    job.kind.value,
                    job.attempts,
                    lease_seconds,
                    extra={"letter_id": str(job.letter_id)},
                )

    await asyncio.gather(*(one(job) for job in jobs))
    return len(jobs)
