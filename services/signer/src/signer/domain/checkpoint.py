"""Checkpoints: sealed statements of where a chain ends, so that a bundle cannot be cut short.

A letter's hash chain proves that no record was removed or changed *before* its last one,
but not that the last one given is the last one there is: dropping the final records
leaves a chain that still holds. So once a letter's fate is settled (`SETTLING_EVENTS`), the
provider seals a *letter checkpoint*: the letter, how many records its chain holds, and the
SHA-256 of the last one. Every later record of the letter brings a new checkpoint, which
supersedes the one before; a bundle carries the latest, and a verifier refuses a bundle
missing any record the checkpoint counts.

The whole log gets a checkpoint too, periodically: a *signed tree head* in the manner of
Certificate Transparency (RFC 6962 §3.5): the size of the log and the Merkle tree hash
(RFC 6962 §2.1) over every record so far, in the order the log took them in. Leaf `i` is
the SHA-256 of the `i`-th record (32 bytes), hashed as an RFC 6962 leaf.

Both statements are canonical JSON (RFC 8785), sealed as records are: a CAdES-T seal by
the provider's key with an RFC 3161 timestamp (`domain/merkle.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from signer.domain import merkle
from signer.domain.evidence import FINAL_EVENTS, EvidenceEvent, canonical_json

LETTER_CHECKPOINT_TYPE = "urn:lre:letter-checkpoint:v1"
TREE_HEAD_TYPE = "urn:lre:log-tree-head:v1"

# From these on, nothing the letter awaits is pending (ETSI EN 319 522-2: the deposit was
# rejected; the letter was refused or left unclaimed; its content was handed over, or the
# handover failed; plus the signed receipt, after which the envelope is issued too). A record
# may still follow (a download after the receipt): it brings a new checkpoint.
SETTLING_EVENTS = FINAL_EVENTS | {
    EvidenceEvent.submission_rejection,
    EvidenceEvent.content_handover,
    EvidenceEvent.content_handover_failure,
}


def _statement(statement_type: str, **fields: Any) -> bytes:
    """A checkpoint's canonical bytes: its type, the hash its digests use, and its fields."""
    return canonical_json({"type": statement_type, "hash": "sha256", **fields})


@dataclass(frozen=True)
class LetterCheckpoint:
    """Where a letter's chain ends: `size` records, the last with SHA-256 `last_sha256`."""

    letter_id: str
    size: int
    last_sha256: str

    def statement(self) -> bytes:
        return _statement(
            LETTER_CHECKPOINT_TYPE, letter_id=self.letter_id, size=self.size, last_sha256=self.last_sha256
        )

    @classmethod
    def of(cls, letter_id: UUID, size: int, last_sha256: str) -> LetterCheckpoint:
        if size < 1:
            raise ValueError("a checkpoint closes a chain of at least one record")
        return cls(str(letter_id), size, last_sha256)

    @classmethod
    def parse(cls, statement: bytes) -> LetterCheckpoint:
        """The checkpoint these bytes state; ValueError, saying what is wrong, otherwise."""
        try:
            value: Any = json.loads(statement)
        except ValueError as e:
            raise ValueError("not valid JSON: the checkpoint was altered or corrupted") from e
        if not isinstance(value, dict) or value.get("type") != LETTER_CHECKPOINT_TYPE:
            raise ValueError(f"not a letter checkpoint (type {LETTER_CHECKPOINT_TYPE})")
        size, last, letter = value.get("size"), value.get("last_sha256"), value.get("letter_id")
        if not isinstance(size, int) or size < 1 or not isinstance(last, str) or not isinstance(letter, str):
            raise ValueError("a checkpoint needs a letter_id, a size of at least 1 and a last_sha256")
        if value.get("hash") != "sha256":
            raise ValueError(f"unknown hash {value.get('hash')!r}: only sha256 is used")
        checkpoint = cls(letter, size, last)
        if checkpoint.statement() != statement:
            raise ValueError("not in canonical form (RFC 8785): the checkpoint was altered")
        return checkpoint


def log_leaf(record_sha256: str) -> bytes:
    """RFC 6962 §2.1 leaf hash of a record, by its SHA-256."""
    return merkle.leaf_hash(bytes.fromhex(record_sha256))


@dataclass(frozen=True)
class TreeHead:
    """RFC 6962 §3.5: the log's size and its Merkle tree hash, at `timestamp` (ISO 8601)."""

    tree_size: int
    root: bytes
    timestamp: str

    def statement(self) -> bytes:
        return _statement(
            TREE_HEAD_TYPE, tree_size=self.tree_size, root=self.root.hex(), timestamp=self.timestamp
        )

    @classmethod
    def over(cls, record_sha256s: Sequence[str], timestamp: str) -> TreeHead:
        return cls(len(record_sha256s), merkle.root_of([log_leaf(d) for d in record_sha256s]), timestamp)
