"""Merkle batches: every record of a batch climbs to the sealed root; no other does."""

from __future__ import annotations

import pytest

from signer.domain.merkle import (
    RecordSeal,
    climb,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    seal_batch,
    statement,
)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 13, 64, 100])
def test_every_leaf_climbs_to_the_root(size: int) -> None:
    leaves = [leaf_hash(f"record {n}".encode()) for n in range(size)]
    root = root_of(leaves)

    for index, leaf in enumerate(leaves):
        assert climb(leaf, inclusion_proof(leaves, index)) == root


def test_a_batch_of_one_is_its_own_root_with_no_proof() -> None:
    leaf = leaf_hash(b"only")

    assert root_of([leaf]) == leaf
    assert inclusion_proof([leaf], 0) == []


def test_a_leaf_is_never_a_node() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")

    assert leaf_hash(a + b) != node_hash(a, b)


def test_each_record_of_a_sealed_batch_is_covered_and_a_changed_one_is_not() -> None:
    records = [f'{{"seq":{n}}}'.encode() for n in range(1, 6)]
    root = root_of([leaf_hash(r) for r in records])
    seals = seal_batch(records, b"cms", statement(root, len(records)))

    assert all(seal.covers(record) for seal, record in zip(seals, records, strict=True))
    assert not seals[2].covers(b'{"seq":30}')
    assert not seals[2].covers(records[3])


def test_a_record_seal_survives_its_serialisation() -> None:
    records = [b"a", b"b", b"c"]
    seal = seal_batch(records, b"\x30\x03cms", statement(root_of([leaf_hash(r) for r in records]), 3))[1]

    assert RecordSeal.from_bytes(seal.to_bytes()) == seal
