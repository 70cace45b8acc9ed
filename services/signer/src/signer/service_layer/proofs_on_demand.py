"""Proofs on demand: a sender system lists its letter's proofs and downloads each one, or the
letter's whole evidence bundle, through a short-lived link.

CPCE R.53-3 IV: the provider keeps the proofs (deposit, receipt, refusal, non-claim) at the
sender's disposal for at least a year. They stay in the journal and, copied under
compliance-mode object lock, in the evidence bucket for the evidence retention (the rules
profile's 365 days plus a day's margin); so does the deposit record, which names the letter's
sender: everything these queries need outlives the year.

Only the letter's own sender gets an answer: the query must come from a publisher that acts for
`sender_id` (its own broker user, or a trusted platform user such as the archive's, which has
checked the sender's API key), and the letter must have been deposited by that sender. Anything
else is answered exactly as an unknown letter is: no one learns that another sender's letter
exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from uuid import UUID

from lre_shared.bus import acts_for
from lre_shared.contracts import (
    BUNDLE,
    IssueProofLink,
    ListProofs,
    ProofEntry,
    ProofLinkIssued,
    ProofsListed,
)
from signer.domain.proofs import ProofKind
from signer.service_layer.archiving import proof_key
from signer.service_layer.ports import Link, ProofLinks, UnitOfWork

log = logging.getLogger(__name__)

UNKNOWN = "no such letter for this sender"
NO_PROOF = "no such proof for this letter yet"


async def letter_sender(uow: UnitOfWork, letter_id: UUID) -> str | None:
    """The sender that deposited the letter, from its SubmissionAcceptance record (what the
    signer recorded from `letter.deposited.v1`); None for a letter it never recorded."""
    deposit = await uow.evidence.deposit(letter_id)
    if deposit is None:
        return None
    sender = json.loads(deposit).get("details", {}).get("sender", {})
    return sender.get("id") if isinstance(sender, dict) else None


async def _answers(uow: UnitOfWork, letter_id: UUID, sender_id: str, trusted: Collection[str]) -> bool:
    """The query may be answered: its publisher acts for the sender, and the letter is theirs."""
    if not acts_for(sender_id, trusted):
        log.info(
            "proof query refused: the publisher may not act for sender %s",
            sender_id,
            extra={"letter_id": str(letter_id)},
        )
        return False
    return await letter_sender(uow, letter_id) == sender_id


async def list_proofs(query: ListProofs, uow: UnitOfWork, *, trusted: Collection[str]) -> ProofsListed:
    """The letter's proofs, in the order they were issued (request/reply: changes nothing)."""
    letter_id = query.correlation_id
    if not await _answers(uow, letter_id, query.sender_id, trusted):
        return ProofsListed(correlation_id=letter_id)
    listed = await uow.proofs.listed(letter_id)
    return ProofsListed(
        correlation_id=letter_id,
        proofs=tuple(
            ProofEntry(
                kind=p.kind.contract,
                filename=p.filename,
                sha256=p.sha256,
                issued_at=p.issued_at,
                size=p.size,
            )
            for p in listed
        ),
    )


async def issue_proof_link(
    query: IssueProofLink, uow: UnitOfWork, *, trusted: Collection[str], links: ProofLinks
) -> ProofLinkIssued:
    """A short-lived link to one proof PDF, or to the letter's evidence bundle (a zip built now,
    from the journal: records, seals, checkpoint and proofs)."""
    letter_id = query.correlation_id
    if not await _answers(uow, letter_id, query.sender_id, trusted):
        return ProofLinkIssued(correlation_id=letter_id, reason=UNKNOWN)
    if query.kind == BUNDLE:
        content = links.pack(await uow.proofs.bundle(letter_id))
        filename = f"evidence_{letter_id}.zip"
        link = await links.export(filename, content, content_type="application/zip")
        return _linked(letter_id, link, filename, hashlib.sha256(content).hexdigest(), len(content))
    kind = ProofKind(query.kind)
    stored = next((p for p in await uow.proofs.listed(letter_id) if p.kind is kind), None)
    if stored is None:
        return ProofLinkIssued(correlation_id=letter_id, reason=NO_PROOF)
    if stored.archived:
        # Its current bytes are in the evidence bucket: linked where they are kept.
        link = await links.archived(proof_key(letter_id, stored.filename))
    else:
        # Not copied yet (or an envelope just replaced): an export of the journal's bytes.
        pdf = await uow.proofs.pdf(letter_id, kind)
        if pdf is None:
            return ProofLinkIssued(correlation_id=letter_id, reason=NO_PROOF)
        link = await links.export(stored.filename, pdf, content_type="application/pdf")
    return _linked(letter_id, link, stored.filename, stored.sha256, stored.size)


def _linked(letter_id: UUID, link: Link, filename: str, sha256: str, size: int) -> ProofLinkIssued:
    """The answer handing out `link`, to the file `filename` (its SHA-256 and size)."""
    return ProofLinkIssued(
        correlation_id=letter_id,
        url=link.url,
        filename=filename,
        sha256=sha256,
        size=size,
        expires_at=link.expires_at,
    )
