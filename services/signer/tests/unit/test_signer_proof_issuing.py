"""Proofs issued off the event path: the record's transaction leaves a job, the issuer renders
after the commit; an envelope asked for several times while it waits is rendered once, one
asked for again while it is being made is made again, and a failed rendering leaves its job."""

from __future__ import annotations

import asyncio

from lre_shared.contracts import Message, ProofIssued
from services.signer.tests.unit.fakes import CountingSealer, InMemoryUnitOfWork, TextProofSealer
from services.signer.tests.unit.test_signer_handlers import (
    POLICY,
    SEALED,
    accepted,
    deposited,
    issue_proofs,
    notice_failed,
    record,
    refused,
)
from signer.domain.proofs import ProofContent, ProofKind
from signer.service_layer import handlers, proof_issuing


def record_only(uow: InMemoryUnitOfWork, *events: Message) -> None:
    """Record, and ask for proofs, without issuing them yet (the issuer is behind)."""
    record(uow, *events, sealer=CountingSealer(SEALED), proofs=TextProofSealer(), issue=False)


def test_the_records_transaction_only_asks_for_the_proof() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()

    record_only(uow, letter)

    assert uow.proofs.kept == {}
    assert uow.of_type(ProofIssued) == []
    assert list(uow.proof_jobs.waiting) == [(letter.correlation_id, ProofKind.deposit)]


def test_an_envelope_asked_for_by_records_close_together_is_rendered_once_with_all_of_them() -> None:
    uow, letter, proofs = InMemoryUnitOfWork(), deposited(), TextProofSealer()

    record_only(uow, letter, refused(letter), notice_failed(letter))
    issue_proofs(uow, proofs, SEALED)

    envelopes = [made for made in proofs.made if made.filename.startswith("pli_")]
    assert len(envelopes) == 1
    assert len(envelopes[0].evidence) == len(uow.evidence.of(letter.correlation_id)) == 3
    assert {kind for _, kind in uow.proofs.kept} == {ProofKind.deposit, ProofKind.refusal, ProofKind.envelope}
    assert uow.proof_jobs.waiting == {}


class RecordsWhileRendering(TextProofSealer):
    """A record arrives while the envelope is being rendered."""

    def __init__(self, uow: InMemoryUnitOfWork, late: Message) -> None:
        super().__init__()
        self._uow, self._late = uow, late

    async def seal_proof(self, content: ProofContent) -> bytes:
        if content.filename.startswith("pli_") and self._late is not None:
            late, self._late = self._late, None  # type: ignore[assignment]
            await handlers.record_event(
                late,
                self._uow,
                recording=handlers.RECORDINGS[type(late)],
                policy_id=POLICY,
                sealer=CountingSealer(SEALED),
                proofs=True,
            )
        return await super().seal_proof(content)


def test_an_envelope_asked_for_again_while_it_is_made_is_made_again_from_the_longer_chain() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record_only(uow, letter, refused(letter))
    proofs = RecordsWhileRendering(uow, notice_failed(letter))

    issue_proofs(uow, proofs, SEALED)

    envelopes = [made for made in proofs.made if made.filename.startswith("pli_")]
    assert [len(made.evidence) for made in envelopes] == [2, 3]
    kept = uow.proofs.kept[letter.correlation_id, ProofKind.envelope]
    assert kept.evidence_id == uow.evidence.of(letter.correlation_id)[-1].evidence_id
    assert uow.proof_jobs.waiting == {}


class FailingSealer(TextProofSealer):
    async def seal_proof(self, content: ProofContent) -> bytes:
        raise OSError("the time-stamping authority does not answer")


def test_a_proof_that_fails_keeps_its_job_for_after_its_lease() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record_only(uow, letter, accepted(letter))

    taken = asyncio.run(
        proof_issuing.issue_due(uow, proofs=FailingSealer(), policy_id=POLICY, assurance=SEALED)
    )

    assert taken == 2
    assert uow.proofs.kept == {}
    assert set(uow.proof_jobs.waiting) == {
        (letter.correlation_id, ProofKind.deposit),
        (letter.correlation_id, ProofKind.receipt),
    }
    # Leased: not taken again before the lease ends.
    assert asyncio.run(uow.proof_jobs.claim(8, lease_seconds=60)) == []


def test_no_job_without_proofs() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record(uow, letter, sealer=CountingSealer(SEALED))
    assert uow.proof_jobs.waiting == {}
