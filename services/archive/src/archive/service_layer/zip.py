"""The whole letter as one zip: the link the pickup site asks for, what the zip holds, the
envelope proof kept for it, and the first download it records.

CPCE R.53-3: the content is the recipient's only once the letter is accepted, and the
download follows the signed acknowledgement of receipt (DESIGN §2 steps 4-6): a zip link is
issued only after `letter.accepted.v1` and `receipt.signed.v1`, and never once the content is
deleted. The zip holds the main document, the attachments and the latest envelope proof
`pli_<number>.pdf` the signer issued (`proof.issued.v1`, kind envelope), each streamed from
the store and hash-checked as it goes.

The signer issues the first envelope when it records the signed receipt (ETSI EN 319 522
ReceiptAcknowledgement), so it reaches the archive a moment after `receipt.signed.v1`: until
it is here, and for at most `Links.envelope_wait` after the signature, the link is refused
as not ready (the pickup site asks the recipient to retry). Past that wait the zip goes
without it (the signer is down, say): the recipient's right to the content comes first.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from archive.adapters.storage import ContentStore
from archive.adapters.zipstream import ZipEntry
from archive.domain.links import Links, zip_path
from archive.service_layer.handlers import content_unavailable, letter_zip_entries
from archive.service_layer.ports import StoredObject, UnitOfWork
from archive.service_layer.uploads import content_key
from lre_shared.bus import PermanentError
from lre_shared.clock import Clock
from lre_shared.contracts import IssueZipLink, ProofIssued, ProofKind, ZipLinkIssued

log = logging.getLogger(__name__)


async def issue_zip_link(
    query: IssueZipLink, uow: UnitOfWork, *, links: Links, clock: Clock
) -> ZipLinkIssued:
    letter = await uow.letters.zip_state(query.correlation_id)
    now = clock()
    reason = content_unavailable(letter.content if letter else None, now)
    if reason is None and letter is not None and not letter.has_envelope:
        signed_at = letter.content.receipt_signed_at
        if signed_at is not None and now < signed_at + links.envelope_wait:
            reason = "the envelope proof is on its way from the signer: retry in a moment"
        else:
            log.warning(
                "zip link of a letter without its envelope proof",
                extra={"letter_id": str(query.correlation_id)},
            )
    if reason is not None or letter is None:
        return ZipLinkIssued(correlation_id=query.correlation_id, url="", reason=reason)
    expires_at = now + links.zip_lifetime
    return ZipLinkIssued(
        correlation_id=query.correlation_id,
        url=links.url(zip_path(query.correlation_id), expires_at),
        filename=zip_filename(letter.item_number),
        expires_at=expires_at,
    )


def zip_filename(item_number: str) -> str:
    return f"pli_{item_number}.zip"


@dataclass(frozen=True)
class OpenZip:
    filename: str
    entries: list[ZipEntry]


async def open_zip(
    uow: UnitOfWork, letter_id: UUID, *, store: ContentStore, now: datetime | None = None
) -> OpenZip | str:
    """The letter's zip entries, or why there are none (the content may have gone since the
    link was issued)."""
    letter = await uow.letters.zip_state(letter_id)
    reason = content_unavailable(letter.content if letter else None, now)
    if reason is not None or letter is None:
        return reason or "no such letter"
    entries = await letter_zip_entries(uow.documents, letter_id, store=store)
    return OpenZip(zip_filename(letter.item_number), entries)


async def on_proof_issued(event: ProofIssued, uow: UnitOfWork, *, store: ContentStore) -> None:
    """Keep the latest envelope proof of a letter with its content, for the zip."""
    if event.kind is not ProofKind.envelope:
        return
    digest = hashlib.sha256(event.pdf).hexdigest()
    if digest != event.sha256:
        raise PermanentError(f"envelope proof of letter {event.correlation_id} does not match its sha256")
    held = await uow.envelopes.current(event.correlation_id)
    if held is None or held.content_deleted_at is not None:
        log.info("envelope proof of a letter whose content the archive does not hold: not kept")
        return
    if held.issued_at is not None and held.issued_at >= event.occurred_at:
        return  # an older envelope arriving late
    key = content_key(event.correlation_id, digest)
    await store.put(key, event.pdf, digest)
    await uow.envelopes.keep(
        event.correlation_id, StoredObject(event.filename, len(event.pdf), digest, key), event.occurred_at
    )
    # The envelope it replaces stays in the store, under the letter, until the content sweep
    # deletes everything there: a zip being streamed may still be reading it, and were this
    # transaction to roll back, the row would still point at it.
