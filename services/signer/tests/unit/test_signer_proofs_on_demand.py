"""Proofs on demand (CPCE R.53-3 IV): a sender lists its letter's proofs and gets a short-lived
link to each, or to the whole evidence bundle; anyone else gets what an unknown letter gets."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

from deploy.local.demo import DEMO_SENDER
from lre_shared.bus.identity import published_by
from lre_shared.contracts import (
    IssueProofLink,
    LetterDeposited,
    ListProofs,
    ProofKind,
    ProofLinkIssued,
    ProofsListed,
)
from services.signer.tests.unit.fakes import CountingSealer, InMemoryUnitOfWork, TextProofSealer
from services.signer.tests.unit.test_signer_handlers import SEALED, accepted, deposited, record
from signer.adapters.bundle import zip_bytes
from signer.domain.proofs import ProofKind as JournalKind
from signer.domain.verification import Bundle
from signer.service_layer import proofs_on_demand
from signer.service_layer.archiving import proof_key
from signer.service_layer.ports import Link

ARCHIVE_USER = "lre-archive"
TRUSTED = (ARCHIVE_USER,)
EXPIRES = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class FakeLinks:
    def __init__(self) -> None:
        self.exported: dict[str, bytes] = {}
        self.linked: list[str] = []

    async def archived(self, key: str) -> Link:
        self.linked.append(key)
        return Link(f"https://s3.example/lre-evidence/{key}?X-Amz-Signature=x", EXPIRES)

    async def export(self, name: str, content: bytes, *, content_type: str) -> Link:
        self.exported[name] = content
        return Link(f"https://s3.example/lre-exports/exports/{name}?X-Amz-Signature=x", EXPIRES)

    def pack(self, bundle: Bundle) -> bytes:
        return zip_bytes(bundle)


def letter_with_proofs() -> tuple[InMemoryUnitOfWork, LetterDeposited]:
    uow, letter = InMemoryUnitOfWork(), deposited()
    record(uow, letter, accepted(letter), sealer=CountingSealer(SEALED), proofs=TextProofSealer())
    return uow, letter


def listed(uow: InMemoryUnitOfWork, letter_id: uuid.UUID, sender_id: str) -> ProofsListed:
    query = ListProofs(correlation_id=letter_id, sender_id=sender_id)
    return asyncio.run(proofs_on_demand.list_proofs(query, uow, trusted=TRUSTED))


def link(
    uow: InMemoryUnitOfWork, letter_id: uuid.UUID, sender_id: str, kind: str, links: FakeLinks
) -> ProofLinkIssued:
    query = IssueProofLink.model_validate({"correlation_id": letter_id, "sender_id": sender_id, "kind": kind})
    return asyncio.run(proofs_on_demand.issue_proof_link(query, uow, trusted=TRUSTED, links=links))


def test_the_sender_lists_its_letters_proofs_with_their_hash_and_size() -> None:
    uow, letter = letter_with_proofs()

    with published_by(DEMO_SENDER.id):
        answer = listed(uow, letter.correlation_id, DEMO_SENDER.id)

    assert [p.kind for p in answer.proofs] == [ProofKind.deposit, ProofKind.receipt]
    receipt = uow.proofs.kept[letter.correlation_id, JournalKind.receipt]
    assert answer.proofs[1].sha256 == receipt.sha256 == hashlib.sha256(receipt.pdf).hexdigest()
    assert answer.proofs[1].size == len(receipt.pdf)
    assert answer.proofs[1].filename == "receipt_799273987130.pdf"


def test_a_trusted_platform_user_may_ask_for_the_sender() -> None:
    uow, letter = letter_with_proofs()

    with published_by(ARCHIVE_USER):
        answer = listed(uow, letter.correlation_id, DEMO_SENDER.id)

    assert len(answer.proofs) == 2


def test_another_senders_letter_is_answered_as_an_unknown_one() -> None:
    uow, letter = letter_with_proofs()

    with published_by("other-sender"):
        theirs = listed(uow, letter.correlation_id, "other-sender")
        unknown = listed(uow, uuid.uuid4(), "other-sender")
        theirs_link = link(uow, letter.correlation_id, "other-sender", "deposit", FakeLinks())
        unknown_link = link(uow, uuid.uuid4(), "other-sender", "deposit", FakeLinks())

    assert theirs.proofs == unknown.proofs == ()
    assert theirs_link.url == unknown_link.url == ""
    assert theirs_link.reason == unknown_link.reason == proofs_on_demand.UNKNOWN


def test_a_publisher_naming_a_sender_it_may_not_act_for_gets_nothing() -> None:
    uow, letter = letter_with_proofs()
    links = FakeLinks()

    for user in ("other-sender", None):  # another sender's user; no user_id at all
        with published_by(user):
            assert listed(uow, letter.correlation_id, DEMO_SENDER.id).proofs == ()
            assert link(uow, letter.correlation_id, DEMO_SENDER.id, "bundle", links).url == ""
    assert links.exported == {}


def test_an_archived_proof_is_linked_where_the_evidence_bucket_keeps_it() -> None:
    uow, letter = letter_with_proofs()
    uow.proofs.archived.add((letter.correlation_id, JournalKind.deposit))
    links = FakeLinks()

    with published_by(DEMO_SENDER.id):
        issued = link(uow, letter.correlation_id, DEMO_SENDER.id, "deposit", links)

    assert links.linked == [proof_key(letter.correlation_id, "deposit_799273987130.pdf")]
    assert links.exported == {}
    assert issued.url.startswith("https://s3.example/lre-evidence/")
    assert issued.expires_at == EXPIRES
    assert issued.sha256 == uow.proofs.kept[letter.correlation_id, JournalKind.deposit].sha256


def test_a_proof_not_archived_yet_is_exported_from_the_journal() -> None:
    uow, letter = letter_with_proofs()
    links = FakeLinks()

    with published_by(DEMO_SENDER.id):
        issued = link(uow, letter.correlation_id, DEMO_SENDER.id, "receipt", links)

    pdf = uow.proofs.kept[letter.correlation_id, JournalKind.receipt].pdf
    assert links.exported == {"receipt_799273987130.pdf": pdf}
    assert issued.url.startswith("https://s3.example/lre-exports/")
    assert issued.size == len(pdf)


def test_no_link_to_a_proof_not_issued_yet() -> None:
    uow, letter = letter_with_proofs()

    with published_by(DEMO_SENDER.id):
        issued = link(uow, letter.correlation_id, DEMO_SENDER.id, "refusal", FakeLinks())

    assert (issued.url, issued.reason) == ("", proofs_on_demand.NO_PROOF)


def test_the_bundle_is_built_now_exported_and_described_by_its_hash() -> None:
    uow, letter = letter_with_proofs()
    links = FakeLinks()

    with published_by(DEMO_SENDER.id):
        issued = link(uow, letter.correlation_id, DEMO_SENDER.id, "bundle", links)

    (name, content), *_ = links.exported.items()
    assert name == issued.filename == f"evidence_{letter.correlation_id}.zip"
    assert issued.sha256 == hashlib.sha256(content).hexdigest()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == [
            "proofs/deposit_799273987130.pdf",
            "proofs/receipt_799273987130.pdf",
        ]
    assert issued.expires_at is not None and issued.expires_at - EXPIRES == timedelta(0)
