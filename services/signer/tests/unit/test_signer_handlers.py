"""The signer's use cases over an in-memory journal: each event's sealed record in the
letter's chain, checkpoints once the fate is settled, proofs issued once (the envelope
replaced), the AR issued once, tree heads and the evidence bucket's copies."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.bus import published_by
from lre_shared.contracts import (
    CheckSignedReceipt,
    EvidenceRecorded,
    IssueReceiptForm,
    LetterAccepted,
    LetterDeposited,
    LetterRefused,
    ListEvidence,
    Message,
    NoticeChannel,
    NoticeFailed,
    ProofIssued,
    ReceiptFormIssued,
    ReceiptProblem,
    SignedReceiptChecked,
    StoredDocument,
)
from services.signer.tests.unit.fakes import CountingSealer, InMemoryUnitOfWork, TextProofSealer
from signer.domain.checkpoint import LetterCheckpoint, TreeHead
from signer.domain.evidence import NON_QUALIFIED_LABEL, EvidenceEvent, SealAssurance
from signer.domain.proofs import ProofContent, ProofKind
from signer.domain.receipt import Recipient, Verdict
from signer.service_layer import handlers, proof_issuing, receipts
from signer.service_layer.archiving import archive_pending
from signer.service_layer.checkpoints import backfill_checkpoints
from signer.service_layer.tree_heads import sign_tree_head

POLICY = "urn:lre:policy:test"
SEALED = SealAssurance(sealed=True, qualified=False)
DEPOSITED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def deposited() -> LetterDeposited:
    return LetterDeposited(
        correlation_id=uuid.uuid4(),
        item_number="799273987130",
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(
            StoredDocument(
                document_id=uuid.uuid4(), filename="mise-en-demeure.pdf", size=1234, sha256="b" * 64
            ),
        ),
        verification_policy="default",
        deposited_at=DEPOSITED_AT,
    )


def accepted(letter: LetterDeposited) -> LetterAccepted:
    return LetterAccepted(
        correlation_id=letter.correlation_id,
        item_number=letter.item_number,
        accepted_at=DEPOSITED_AT + timedelta(days=1),
    )


def refused(letter: LetterDeposited) -> LetterRefused:
    return LetterRefused(
        correlation_id=letter.correlation_id,
        item_number=letter.item_number,
        refused_at=DEPOSITED_AT + timedelta(days=2),
    )


def notice_failed(letter: LetterDeposited) -> NoticeFailed:
    return NoticeFailed(
        correlation_id=letter.correlation_id,
        notice_id=uuid.uuid4(),
        item_number=letter.item_number,
        channel=NoticeChannel.sms,
        address="+33600000000",
        reason="the number does not exist",
        permanent=True,
    )


def record(
    uow: InMemoryUnitOfWork,
    *events: Message,
    sealer: CountingSealer | None = None,
    proofs: TextProofSealer | None = None,
    issue: bool = True,
) -> None:
    """Record each event, then (unless not to `issue` them yet: the issuer is behind) issue
    the proofs they asked for, as the proof issuer does after their commits."""
    sealer = sealer or CountingSealer()
    for event in events:
        asyncio.run(
            handlers.record_event(
                event,
                uow,
                recording=handlers.RECORDINGS[type(event)],
                policy_id=POLICY,
                sealer=sealer,
                proofs=proofs is not None,
            )
        )
    if proofs is not None and issue:
        issue_proofs(uow, proofs, sealer.assurance)


def issue_proofs(uow: InMemoryUnitOfWork, proofs: TextProofSealer, assurance: SealAssurance) -> int:
    issued = 0
    while taken := asyncio.run(
        proof_issuing.issue_due(uow, proofs=proofs, policy_id=POLICY, assurance=assurance)
    ):
        issued += taken
    return issued


def test_each_record_follows_the_one_before_in_the_letters_chain() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()

    record(uow, letter, accepted(letter))

    chain = uow.evidence.of(letter.correlation_id)
    assert [(r.seq, r.event) for r in chain] == [
        (1, EvidenceEvent.submission_acceptance),
        (2, EvidenceEvent.consignment_acceptance),
    ]
    assert chain[0].previous_sha256 is None
    assert chain[1].previous_sha256 == chain[0].record_sha256
    assert json.loads(chain[1].body)["previous_sha256"] == chain[0].record_sha256
    assert uow.evidence.held == [letter.correlation_id] * 2  # one writer of the chain at a time
    recorded = uow.of_type(EvidenceRecorded)
    assert [m.evidence_id for m in recorded] == [r.evidence_id for r in chain]


def test_a_sealed_record_keeps_its_seal_and_says_what_it_is_worth() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()

    record(uow, letter, sealer=CountingSealer(SEALED))

    (stored,) = uow.evidence.of(letter.correlation_id)
    assert stored.seal == b"seal of " + stored.body
    assert stored.seal_label == SEALED.label
    assert json.loads(stored.body)["seal"]["sealed"] is True


def test_no_checkpoint_before_the_letters_fate_is_settled() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()

    record(uow, letter, accepted(letter))

    assert uow.checkpoints.latest == {}


def test_a_settling_record_is_sealed_with_the_letters_checkpoint_and_later_ones_extend_it() -> None:
    uow, letter, sealer = InMemoryUnitOfWork(), deposited(), CountingSealer(SEALED)

    record(uow, letter, refused(letter), sealer=sealer)
    checkpoint, seal = uow.checkpoints.latest[str(letter.correlation_id)]
    chain = uow.evidence.of(letter.correlation_id)
    assert checkpoint == LetterCheckpoint.of(letter.correlation_id, 2, chain[1].record_sha256)
    assert seal == b"seal of " + checkpoint.statement()
    assert sealer.sealed[-2:] == [chain[1].body, checkpoint.statement()]  # one batch

    record(uow, notice_failed(letter), sealer=sealer)
    checkpoint, _ = uow.checkpoints.latest[str(letter.correlation_id)]
    assert checkpoint.size == 3
    assert checkpoint.last_sha256 == uow.evidence.of(letter.correlation_id)[2].record_sha256


def test_a_letter_settled_before_checkpoints_gets_one_covering_its_whole_chain() -> None:
    uow, letter, other, sealer = InMemoryUnitOfWork(), deposited(), deposited(), CountingSealer(SEALED)
    record(uow, letter, refused(letter), notice_failed(letter), sealer=sealer)
    record(uow, other, accepted(other), sealer=sealer)  # not settled: no checkpoint to seal
    uow.checkpoints.latest.clear()  # as before the signer sealed checkpoints

    found = asyncio.run(backfill_checkpoints(uow, sealer, batch=1))

    chain = uow.evidence.of(letter.correlation_id)
    checkpoint, seal = uow.checkpoints.latest[str(letter.correlation_id)]
    assert found == 1
    assert checkpoint == LetterCheckpoint.of(letter.correlation_id, 3, chain[-1].record_sha256)
    assert seal == b"seal of " + checkpoint.statement()
    assert str(other.correlation_id) not in uow.checkpoints.latest


def test_the_checkpoint_backfill_leaves_letters_that_have_one_as_they_are() -> None:
    uow, letter, sealer = InMemoryUnitOfWork(), deposited(), CountingSealer(SEALED)
    record(uow, letter, refused(letter), sealer=sealer)
    kept = dict(uow.checkpoints.latest)
    sealed = len(sealer.sealed)

    found = asyncio.run(backfill_checkpoints(uow, sealer))

    assert found == 0
    assert uow.checkpoints.latest == kept
    assert len(sealer.sealed) == sealed


def test_the_events_proof_is_issued_with_its_record_and_published() -> None:
    uow, letter, proofs = InMemoryUnitOfWork(), deposited(), TextProofSealer()

    record(uow, letter, accepted(letter), sealer=CountingSealer(SEALED), proofs=proofs)

    assert [kind for _, kind in uow.proofs.kept] == [ProofKind.deposit, ProofKind.receipt]
    issued = uow.of_type(ProofIssued)
    assert [m.filename for m in issued] == ["deposit_799273987130.pdf", "receipt_799273987130.pdf"]
    receipt = uow.proofs.kept[letter.correlation_id, ProofKind.receipt]
    assert receipt.evidence_id == uow.evidence.of(letter.correlation_id)[1].evidence_id
    assert b"Preuve de r\xc3\xa9ception" in receipt.pdf
    assert NON_QUALIFIED_LABEL in proofs.made[1].notes[0]


def test_each_proof_carries_the_sealed_records_it_attests_and_the_envelope_all_of_them() -> None:
    uow, letter, proofs = InMemoryUnitOfWork(), deposited(), TextProofSealer()

    record(uow, letter, refused(letter), sealer=CountingSealer(SEALED), proofs=proofs)

    chain = uow.evidence.of(letter.correlation_id)
    carried = {made.filename: [(r.seq, r.body, r.seal) for r in made.evidence] for made in proofs.made}
    each = [(r.seq, r.body, r.seal) for r in chain]
    assert chain[1].seal == b"seal of " + chain[1].body
    assert carried == {
        "deposit_799273987130.pdf": each[:1],
        "refusal_799273987130.pdf": each[1:],
        "pli_799273987130.pdf": each,
    }


def test_a_proof_already_issued_is_not_issued_again() -> None:
    uow, letter, proofs = InMemoryUnitOfWork(), deposited(), TextProofSealer()
    record(uow, letter, proofs=proofs)
    first = uow.proofs.kept[letter.correlation_id, ProofKind.deposit]

    # The deposit redelivered from a replayed message asks for its proof again.
    deposit = uow.evidence.of(letter.correlation_id)[0]
    asyncio.run(uow.proof_jobs.request(letter.correlation_id, ProofKind.deposit, deposit.evidence_id))
    assert issue_proofs(uow, proofs, SEALED) == 1

    assert uow.proofs.kept[letter.correlation_id, ProofKind.deposit] == first
    assert len(uow.of_type(ProofIssued)) == 1
    assert len(proofs.made) == 1  # not rendered again
    assert uow.proof_jobs.waiting == {}


def test_the_envelope_comes_with_the_settled_fate_and_is_replaced_by_each_later_record() -> None:
    uow, letter, proofs = InMemoryUnitOfWork(), deposited(), TextProofSealer()

    record(uow, letter, accepted(letter), proofs=proofs)
    assert (letter.correlation_id, ProofKind.envelope) not in uow.proofs.kept

    record(uow, refused(letter), proofs=proofs)
    first = uow.proofs.kept[letter.correlation_id, ProofKind.envelope]
    uow.proofs.archived.add((letter.correlation_id, ProofKind.envelope))

    record(uow, notice_failed(letter), proofs=proofs)
    latest = uow.proofs.kept[letter.correlation_id, ProofKind.envelope]
    assert latest.filename == first.filename == "pli_799273987130.pdf"
    assert latest.evidence_id == uow.evidence.of(letter.correlation_id)[-1].evidence_id
    assert latest.pdf.count(b"Preuve ") == first.pdf.count(b"Preuve ") + 1
    assert (letter.correlation_id, ProofKind.envelope) not in uow.proofs.archived  # to the bucket again
    envelopes = [m for m in uow.of_type(ProofIssued) if m.filename.startswith("pli_")]
    assert len(envelopes) == 2


def test_no_proof_for_a_letter_with_no_deposit_on_record() -> None:
    uow, letter, proofs = InMemoryUnitOfWork(), deposited(), TextProofSealer()

    record(uow, refused(letter), proofs=proofs)

    assert len(uow.evidence.of(letter.correlation_id)) == 1
    assert uow.proofs.kept == {}
    assert uow.of_type(ProofIssued) == []


def test_listed_evidence_gives_each_negative_record_its_reasons_and_each_notice_its_channel() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record(uow, letter, notice_failed(letter), refused(letter))

    with published_by(letter.sender.id):  # the letter's own sender asks
        listed = asyncio.run(handlers.list_evidence(ListEvidence(correlation_id=letter.correlation_id), uow))

    assert [(e.event, e.reasons, e.channel) for e in listed.records] == [
        ("SubmissionAcceptance", (), None),
        ("NotificationForAcceptanceFailure", ("the number does not exist",), NoticeChannel.sms),
        ("ConsignmentRejection", ("refused by the recipient",), None),
    ]
    assert listed.records[2].previous_sha256 == listed.records[1].record_sha256


def test_a_letter_with_no_evidence_lists_none() -> None:
    listed = asyncio.run(
        handlers.list_evidence(ListEvidence(correlation_id=uuid.uuid4()), InMemoryUnitOfWork())
    )

    assert listed.records == ()


# --------------------------------------------------------------------------- the AR


RENDERED: list[ProofContent] = []


def render(content: ProofContent) -> bytes:
    RENDERED.append(content)
    return f"AR {content.filename}".encode()


def issue_form(uow: InMemoryUnitOfWork, letter: LetterDeposited) -> ReceiptFormIssued:
    query = IssueReceiptForm(correlation_id=letter.correlation_id)
    reply = asyncio.run(receipts.issue_receipt_form(query, uow, policy_id=POLICY, render=render))
    assert isinstance(reply, ReceiptFormIssued)
    return reply


def test_no_ar_before_the_letter_is_accepted() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record(uow, letter)

    reply = issue_form(uow, letter)

    assert reply.pdf == b"" and reply.sha256 is None
    assert reply.reason is not None and "not accepted" in reply.reason
    assert uow.receipt_forms.forms == {}


def test_the_ar_is_issued_once_and_every_request_gets_the_same_bytes() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record(uow, letter, accepted(letter))

    rendered = len(RENDERED)
    first = issue_form(uow, letter)
    again = issue_form(uow, letter)

    assert len(RENDERED) == rendered + 1

    assert first.pdf == again.pdf == b"AR ar_799273987130.pdf"
    assert first.sha256 == again.sha256
    form = uow.receipt_forms.forms[letter.correlation_id]
    assert form.recipient == Recipient(
        DEMO_RECIPIENT.first_name, DEMO_RECIPIENT.last_name, DEMO_RECIPIENT.email
    )


class Checker:
    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.asked: list[tuple[bytes, bytes, Recipient]] = []

    async def check(
        self, signed: bytes, issued: bytes, recipient: Recipient, received_at: datetime
    ) -> Verdict:
        self.asked.append((signed, issued, recipient))
        return self.verdict


def check(uow: InMemoryUnitOfWork, letter: LetterDeposited, checker: Checker) -> SignedReceiptChecked:
    query = CheckSignedReceipt(correlation_id=letter.correlation_id, pdf=b"signed AR")
    reply = asyncio.run(receipts.check_signed_receipt(query, uow, checker=checker))
    assert isinstance(reply, SignedReceiptChecked)
    return reply


def test_a_signed_ar_for_a_letter_with_no_ar_issued_is_refused() -> None:
    checker = Checker(Verdict(None, "fine", signer_name="Camille Martin"))

    reply = check(InMemoryUnitOfWork(), deposited(), checker)

    assert not reply.accepted and reply.problem is ReceiptProblem.not_issued
    assert checker.asked == []


def test_an_accepted_signed_ar_is_kept_against_the_ar_issued() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record(uow, letter, accepted(letter))
    issued = issue_form(uow, letter)
    checker = Checker(Verdict(None, "fine", signer_name="Camille Martin"))

    reply = check(uow, letter, checker)

    assert reply.accepted and reply.signer_name == "Camille Martin"
    assert checker.asked[0][:2] == (b"signed AR", issued.pdf)
    assert uow.receipt_forms.signed[letter.correlation_id] == (b"signed AR", "Camille Martin")


def test_a_refused_signed_ar_is_not_kept() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record(uow, letter, accepted(letter))
    issue_form(uow, letter)

    reply = check(uow, letter, Checker(Verdict(ReceiptProblem.not_our_receipt, "another document")))

    assert not reply.accepted and reply.problem is ReceiptProblem.not_our_receipt
    assert uow.receipt_forms.signed == {}


# --------------------------------------------------------------------------- background tasks


def test_a_tree_head_covers_every_record_in_log_order_and_only_new_records_bring_another() -> None:
    uow, letter, sealer = InMemoryUnitOfWork(), deposited(), CountingSealer(SEALED)
    record(uow, letter, accepted(letter))
    clock = lambda: DEPOSITED_AT  # noqa: E731

    head = asyncio.run(sign_tree_head(uow, sealer, clock=clock))

    digests = [r.record_sha256 for r in uow.evidence.records]
    assert head == TreeHead.over(digests, DEPOSITED_AT.isoformat())
    assert uow.log.heads == [(head, b"seal of " + head.statement())]
    assert asyncio.run(sign_tree_head(uow, sealer, clock=clock)) is None  # nothing new

    record(uow, refused(letter))
    later = asyncio.run(sign_tree_head(uow, sealer, clock=clock))
    assert later is not None and later.tree_size == 3


def test_no_tree_head_while_another_replica_signs_one() -> None:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record(uow, letter)
    uow.log.busy = True

    assert asyncio.run(sign_tree_head(uow, CountingSealer(SEALED))) is None
    assert uow.log.heads == []


class Bucket:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str, datetime]] = {}

    async def ensure_bucket(self) -> None:
        pass

    async def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime) -> None:
        self.objects[key] = (content, content_type, retain_until)


def test_committed_records_seals_and_proofs_go_to_the_bucket_locked_once() -> None:
    uow, letter, bucket = InMemoryUnitOfWork(), deposited(), Bucket()
    record(uow, letter, sealer=CountingSealer(SEALED), proofs=TextProofSealer())
    now = datetime(2026, 3, 2, 9, 30, 15, 250000, tzinfo=UTC)

    def archive() -> int:
        return asyncio.run(archive_pending(uow, bucket, retention=timedelta(days=366), clock=lambda: now))

    assert archive() == 2
    (stored,) = uow.evidence.records
    prefix = f"letters/{letter.correlation_id}"
    until = datetime(2027, 3, 3, 9, 30, 16, tzinfo=UTC)  # rounded up to the second, never short
    expected: dict[str, Any] = {
        f"{prefix}/records/0001.json": (stored.body, "application/json", until),
        f"{prefix}/records/0001.seal.json": (stored.seal, "application/json", until),
        f"{prefix}/proofs/deposit_799273987130.pdf": (
            uow.proofs.kept[letter.correlation_id, ProofKind.deposit].pdf,
            "application/pdf",
            until,
        ),
    }
    assert bucket.objects == expected
    assert archive() == 0


def test_an_unsealed_record_goes_to_the_bucket_without_a_seal() -> None:
    uow, letter, bucket = InMemoryUnitOfWork(), deposited(), Bucket()
    record(uow, letter)

    asyncio.run(archive_pending(uow, bucket, retention=timedelta(days=366)))

    assert list(bucket.objects) == [f"letters/{letter.correlation_id}/records/0001.json"]
