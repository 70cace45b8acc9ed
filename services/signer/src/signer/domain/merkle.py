"""Merkle batches: one seal and one RFC 3161 timestamp for many evidence records.

Records sealed at the same moment are the leaves of a Merkle tree (hashing as RFC 6962 /
RFC 9162 §2.1, with its 0x00 / 0x01 prefixes so a leaf can never pass for a node). The
provider seals a small *batch statement* naming the root; each record keeps the statement,
the seal, and its inclusion proof (the sibling hashes from its leaf up to the root). To
verify one record: hash it, climb its proof to the root, compare with the statement, check
the statement's seal and timestamp. A batch of one is a tree of one leaf, with no proof.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from signer.domain.evidence import canonical_json

STATEMENT_TYPE = "urn:lre:evidence-batch:v1"


def leaf_hash(record: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + record).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (RFC 9162 §2.1.1)."""
    k = 1
    while k * 2 < size:
        k *= 2
    return k


def root_of(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[tuple[str, bytes]]:
    """Sibling hashes from the leaf up: ("L", h) is a left sibling, ("R", h) a right one."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), ("R", root_of(leaves[k:]))]
    return [*inclusion_proof(leaves[k:], index - k), ("L", root_of(leaves[:k]))]


def climb(leaf: bytes, proof: Sequence[tuple[str, bytes]]) -> bytes:
    node = leaf
    for side, sibling in proof:
        node = node_hash(sibling, node) if side == "L" else node_hash(node, sibling)
    return node


def statement(root: bytes, size: int) -> bytes:
    """The bytes the provider seals for a batch: canonical JSON naming the root."""
    return canonical_json({"type": STATEMENT_TYPE, "hash": "sha256", "root": root.hex(), "size": size})


@dataclass(frozen=True)
class RecordSeal:
    """What each record keeps: the batch statement, its CMS seal, the record's inclusion proof."""

    statement: bytes
    cms: bytes  # DER CMS SignedData (CAdES-T) over `statement`, detached
    proof: tuple[tuple[str, bytes], ...]

    def to_bytes(self) -> bytes:
        # Plain sorted JSON: these bytes are neither hashed nor signed (the statement is).
        return json.dumps(
            {
                "statement": self.statement.decode(),
                "cms": base64.b64encode(self.cms).decode(),
                "proof": [[side, digest.hex()] for side, digest in self.proof],
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> RecordSeal:
        value: Any = json.loads(data)
        return cls(
            statement=str(value["statement"]).encode(),
            cms=base64.b64decode(value["cms"], validate=True),
            proof=tuple((str(side), bytes.fromhex(digest)) for side, digest in value["proof"]),
        )

    def root(self) -> bytes:
        value = json.loads(self.statement)
        if value.get("type") != STATEMENT_TYPE or value.get("hash") != "sha256":
            raise ValueError("not an evidence batch statement")
        return bytes.fromhex(value["root"])

    def covers(self, record: bytes) -> bool:
        """The record is a leaf of the sealed batch."""
        return climb(leaf_hash(record), self.proof) == self.root()


def seal_batch(records: Sequence[bytes], cms_for: bytes, statement_bytes: bytes) -> list[RecordSeal]:
    """Each record's seal, once the statement of their batch is sealed (`cms_for`)."""
    leaves = [leaf_hash(r) for r in records]
    return [
        RecordSeal(statement_bytes, cms_for, tuple(inclusion_proof(leaves, i))) for i in range(len(leaves))
    ]
