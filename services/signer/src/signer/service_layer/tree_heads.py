"""The log's signed tree heads (RFC 6962 §3.5): every record, in log order, under one sealed
Merkle tree hash, taken periodically.

A record gets its position in the log (its leaf index) here, not when it is inserted: the
inserting transactions commit in an order no one knows in advance, and a tree head must
never cover positions a later commit could still fill. Records committed since the last
head take the next positions, in the order they were recorded; positions, once given,
never change, so each head extends the one before (RFC 6962 §2.1.2: the older tree is a
prefix of the newer).
"""

from __future__ import annotations

import logging

from lre_shared.clock import Clock, now_utc
from signer.domain.checkpoint import TreeHead
from signer.service_layer.ports import EvidenceSealer, UnitsOfWork

log = logging.getLogger(__name__)


async def sign_tree_head(
    transactions: UnitsOfWork, sealer: EvidenceSealer, *, clock: Clock = now_utc
) -> TreeHead | None:
    """Take the records committed since the last head into the log, and seal, timestamp and
    store the new head; None when no record came in (the last head still holds)."""
    async with transactions() as uow:
        if not await uow.log.hold():
            return None  # another replica is at it
        taken = await uow.log.take_in()
        last_size = await uow.log.head_size()
        if taken == 0 and last_size > 0:
            return None
        digests = await uow.log.digests()
        if not digests or len(digests) == last_size:
            return None
        head = TreeHead.over(digests, clock().isoformat())
        await uow.log.add_head(head, await sealer.seal(head.statement()))
    log.info("signed tree head: %d records, root %s", head.tree_size, head.root.hex())
    return head
