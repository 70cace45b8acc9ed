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

import asyncpg

from archive.adapters.storage import ContentStore
from archive.adapters.zipstream import ZipEntry
from archive.domain.expiry import Clock
from archive.domain.links import Links, zip_path
from archive.service_layer.handlers import content_unavailable, letter_zip_entries
from archive.service_layer.uploads import content_key
from lre_shared.bus import PermanentError, Transaction
from lre_shared.messages import IssueZipLink, ProofIssued, ProofKind, ZipLinkIssued

log = logging.getLogger(__name__)


LETTER_STATE = (
    "SELECT item_number, accepted_at, receipt_signed_at, content_deleted_at, content_expires_at,"
    " handed_over_at,"
    " EXISTS (SELECT 1 FROM envelopes e WHERE e.letter_id = letters.letter_id) AS has_envelope"
    " FROM letters WHERE letter_id = $1"
)


async def issue_zip_link(
    query: IssueZipLink, tx: Transaction, *, links: Links, clock: Clock
) -> ZipLinkIssued:
    letter = await tx.conn.fetchrow(LETTER_STATE, query.correlation_id)
    now = clock.now()
    reason = content_unavailable(letter, now)
    if reason is None and letter is not None and not letter["has_envelope"]:
        if now < letter["receipt_signed_at"] + links.envelope_wait:
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
        filename=zip_filename(letter["item_number"]),
        expires_at=expires_at,
    )


def zip_filename(item_number: str) -> str:
    return f"pli_{item_number}.zip"


@dataclass(frozen=True)
class OpenZip:
    filename: str
    entries: list[ZipEntry]


async def open_zip(
    conn: asyncpg.Connection, letter_id: UUID, *, store: ContentStore, now: datetime | None = None
) -> OpenZip | str:
    """The letter's zip entries, or why there are none (the content may have gone since the
    link was issued)."""
    letter = await conn.fetchrow(LETTER_STATE, letter_id)
    reason = content_unavailable(letter, now)
    if reason is not None or letter is None:
        return reason or "no such letter"
    entries = await letter_zip_entries(conn, letter_id, store=store)
    return OpenZip(zip_filename(letter["item_number"]), entries)


async def on_proof_issued(event: ProofIssued, tx: Transaction, *, store: ContentStore) -> None:
    """Keep the latest envelope proof of a letter with its content, for the zip."""
    if event.kind is not ProofKind.envelope:
        return
    digest = hashlib.sha256(event.pdf).hexdigest()
    if digest != event.sha256:
        raise PermanentError(f"envelope proof of letter {event.correlation_id} does not match its sha256")
    letter = await tx.conn.fetchrow(
        "SELECT l.content_deleted_at, e.issued_at, e.object_key FROM letters l"
        " LEFT JOIN envelopes e USING (letter_id) WHERE l.letter_id = $1 FOR UPDATE OF l",
        event.correlation_id,
    )
    if letter is None or letter["content_deleted_at"] is not None:
        log.info("envelope proof of a letter whose content the archive does not hold: not kept")
        return
    if letter["issued_at"] is not None and letter["issued_at"] >= event.occurred_at:
        return  # an older envelope arriving late
    key = content_key(event.correlation_id, digest)
    await store.put(key, event.pdf, digest)
    await tx.conn.execute(
        "INSERT INTO envelopes (letter_id, filename, size, sha256, object_key, issued_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (letter_id) DO UPDATE SET filename = $2,"
        " size = $3, sha256 = $4, object_key = $5, issued_at = $6",
        event.correlation_id,
        event.filename,
        len(event.pdf),
        digest,
        key,
        event.occurred_at,
    )
    replaced = letter["object_key"]
    if replaced is not None and replaced != key:
        await store.delete(replaced)
