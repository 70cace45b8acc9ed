"""Message contracts are snapshotted: a change to any message's JSON Schema fails here
until docs/contracts/ is regenerated (`make docs`) and the change reviewed. A breaking
change belongs under a new `.v2` routing key, published beside `.v1`."""

from __future__ import annotations

from pathlib import Path

import pytest

from lre_shared.contracts import ALL_MESSAGES, Message
from lre_shared.schemas import file_name, render

SNAPSHOTS = Path(__file__).resolve().parents[2] / "docs" / "contracts"


@pytest.mark.parametrize("message_type", ALL_MESSAGES, ids=lambda m: m.__name__)
def test_the_schema_of_each_message_matches_its_committed_snapshot(message_type: type[Message]) -> None:
    snapshot = SNAPSHOTS / file_name(message_type)
    assert snapshot.exists(), f"no snapshot for {message_type.__name__}: run `make docs`"
    assert render(message_type) == snapshot.read_text(), (
        f"{message_type.__name__} changed: if intended and backward compatible, run `make docs`; "
        "if breaking, publish it as a new .v2 message instead"
    )


def test_no_snapshot_is_left_without_its_message() -> None:
    expected = {file_name(m) for m in ALL_MESSAGES}
    assert {p.name for p in SNAPSHOTS.glob("*.schema.json")} == expected


def test_every_routing_key_is_unique_and_versioned() -> None:
    keys = [m.routing_key for m in ALL_MESSAGES]
    assert len(keys) == len(set(keys))
    assert all(key.rsplit(".", 1)[1].startswith("v") for key in keys)


@pytest.mark.parametrize("message_type", ALL_MESSAGES, ids=lambda m: m.__name__)
def test_every_message_carries_id_letter_and_utc_time(message_type: type[Message]) -> None:
    required = set(message_type.model_json_schema()["properties"])
    assert {"message_id", "correlation_id", "occurred_at"} <= required
