"""Sender systems' API keys and the HTTP API they open: proofs, bundle and evidence of the
sender's own letters only; failed keys limited per client address."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import httpx
from starlette.applications import Starlette

from archive.domain.api_keys import FailureLimit, FailureWindow, bearer, digest, new_key, prefix_of
from archive.entrypoints.senders_http import KeyCheck, sender_routes
from archive.service_layer.api_keys import StoredKey, authenticate, issue_key
from lre_shared.contracts import (
    EvidenceListed,
    IssueProofLink,
    ListProofs,
    Message,
    ProofEntry,
    ProofKind,
    ProofLinkIssued,
    ProofsListed,
)

R = TypeVar("R", bound=Message)
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass
class FakeKeys:
    keys: dict[str, StoredKey] = field(default_factory=dict)
    letters: dict[UUID, str] = field(default_factory=dict)
    uses: list[UUID] = field(default_factory=list)

    async def add(
        self, key_id: UUID, sender_id: str, prefix: str, key_sha256: str, label: str | None
    ) -> None:
        self.keys[prefix] = StoredKey(key_id, sender_id, prefix, key_sha256, label, NOW, None, None)

    async def by_prefix(self, prefix: str) -> StoredKey | None:
        return self.keys.get(prefix)

    async def of_sender(self, sender_id: str) -> list[StoredKey]:
        return [k for k in self.keys.values() if k.sender_id == sender_id]

    async def revoke(self, key_id: UUID) -> bool:
        for prefix, key in self.keys.items():
            if key.key_id == key_id and key.revoked_at is None:
                self.keys[prefix] = replace(key, revoked_at=NOW)
                return True
        return False

    async def used(self, key_id: UUID) -> None:
        self.uses.append(key_id)

    async def letter_sender(self, letter_id: UUID) -> str | None:
        return self.letters.get(letter_id)


@dataclass
class FakeFailures:
    """`ports.AuthFailures` in memory, counting as `FailureLimit.counted` says."""

    windows: dict[str, FailureWindow] = field(default_factory=dict)

    async def window(self, address: str) -> FailureWindow | None:
        return self.windows.get(address)

    async def count(self, address: str, now: datetime, limit: FailureLimit) -> FailureWindow:
        counted = limit.counted(self.windows.get(address), now)
        self.windows[address] = counted
        return counted

    async def forget(self, before: datetime) -> int:
        closed = [a for a, w in self.windows.items() if w.opened_at <= before]
        for address in closed:
            del self.windows[address]
        return len(closed)


def test_a_key_is_256_random_bits_behind_a_public_prefix_and_only_its_hash_is_kept() -> None:
    made = new_key()

    assert made.key.startswith(f"lre_{made.prefix}_")
    assert prefix_of(made.key) == made.prefix
    assert made.sha256 == digest(made.key) != made.key
    assert len(made.key.removeprefix(f"lre_{made.prefix}_")) == 43  # 32 bytes, base64url
    assert new_key().key != made.key


def test_only_a_well_formed_bearer_key_has_a_prefix() -> None:
    assert bearer("Bearer lre_0123abcd_x") == "lre_0123abcd_x"
    assert bearer("Basic dXNlcjpwYXNz") == ""
    assert prefix_of("lre_0123abcd_short") is None
    assert prefix_of("") is None


def test_a_live_key_names_its_sender_and_a_wrong_or_revoked_one_nobody() -> None:
    keys = FakeKeys()
    issued = asyncio.run(issue_key(keys, "acme", "erp"))
    forged = issued.key[:-1] + ("A" if issued.key[-1] != "A" else "B")

    assert asyncio.run(authenticate(keys, issued.key)) == "acme"
    assert keys.uses == [issued.key_id]
    assert asyncio.run(authenticate(keys, forged)) is None
    assert asyncio.run(authenticate(keys, "lre_00000000_" + "A" * 43)) is None

    assert asyncio.run(keys.revoke(issued.key_id))
    assert asyncio.run(authenticate(keys, issued.key)) is None
    assert not asyncio.run(keys.revoke(issued.key_id))  # revoked already


def test_failures_from_one_address_are_refused_until_their_window_closes() -> None:
    limit = FailureLimit(3, timedelta(minutes=5))
    window: FailureWindow | None = None
    for minute in range(3):
        assert limit.retry_after(window, NOW) is None
        window = limit.counted(window, NOW + timedelta(minutes=minute))

    later = NOW + timedelta(minutes=3)
    assert window == FailureWindow(NOW, 3)
    assert limit.retry_after(window, later) == 121
    assert not limit.over(window)
    assert limit.over(limit.counted(window, later))  # a fourth, counted meanwhile elsewhere
    assert limit.retry_after(window, NOW + timedelta(minutes=5)) is None
    # The next failure opens a new window.
    assert limit.counted(window, NOW + timedelta(minutes=5)) == FailureWindow(NOW + timedelta(minutes=5), 1)


def test_retry_after_is_never_longer_than_the_window() -> None:
    limit = FailureLimit(1, timedelta(seconds=30))
    window = limit.counted(None, NOW)

    assert limit.retry_after(window, NOW) == 30
    assert limit.retry_after(window, NOW + timedelta(seconds=29, microseconds=500_000)) == 1


# ------------------------------------------------------------------------ HTTP


class Signer:
    """Answers as the signer would, for the letters of `owner`."""

    def __init__(self, owner: dict[UUID, str], *, silent: bool = False) -> None:
        self.owner = owner
        self.silent = silent
        self.asked: list[Message] = []

    async def __call__(self, query: Message, answer: type[R], *, timeout: float) -> R:
        self.asked.append(query)
        if self.silent:
            raise TimeoutError
        mine = self.owner.get(query.correlation_id) == getattr(query, "sender_id", None)
        reply: Message
        if isinstance(query, ListProofs):
            entry = ProofEntry(
                kind=ProofKind.deposit, filename="deposit_1.pdf", sha256="a" * 64, issued_at=NOW, size=9
            )
            reply = ProofsListed(correlation_id=query.correlation_id, proofs=(entry,) if mine else ())
        elif isinstance(query, IssueProofLink):
            reply = (
                ProofLinkIssued(
                    correlation_id=query.correlation_id,
                    url=f"https://s3.example/{query.kind}?X-Amz-Signature=x",
                    filename="f",
                    sha256="a" * 64,
                    size=9,
                    expires_at=NOW,
                )
                if mine
                else ProofLinkIssued(
                    correlation_id=query.correlation_id, reason="no such letter for this sender"
                )
            )
        else:
            reply = EvidenceListed(correlation_id=query.correlation_id, records=())
        assert isinstance(reply, answer)
        return reply


def client(keys: FakeKeys, signer: Signer, failures: int = 3) -> httpx.AsyncClient:
    check = KeyCheck(keys, FailureLimit(failures, timedelta(minutes=5)), (), lambda: NOW, FakeFailures())
    app = Starlette(routes=sender_routes(check, signer))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://archive")


def requests(keys: FakeKeys, signer: Signer, *calls: tuple[str, str | None], failures: int = 3) -> list[Any]:
    async def run() -> list[httpx.Response]:
        async with client(keys, signer, failures) as http:
            return [
                await http.get(path, headers={"authorization": f"Bearer {key}"} if key else {})
                for path, key in calls
            ]

    return asyncio.run(run())


def acme_with_letter() -> tuple[FakeKeys, str, UUID]:
    keys, letter = FakeKeys(), uuid.uuid4()
    keys.letters[letter] = "acme"
    return keys, asyncio.run(issue_key(keys, "acme")).key, letter


def test_the_sender_lists_its_proofs_and_is_sent_to_each_download() -> None:
    keys, key, letter = acme_with_letter()
    signer = Signer({letter: "acme"})

    listed, proof, bundle, evidence = requests(
        keys,
        signer,
        (f"/senders/letters/{letter}/proofs", key),
        (f"/senders/letters/{letter}/proofs/deposit", key),
        (f"/senders/letters/{letter}/bundle", key),
        (f"/senders/letters/{letter}/evidence", key),
    )

    assert listed.status_code == 200
    assert listed.json()["proofs"][0]["kind"] == "deposit"
    assert (proof.status_code, proof.headers["location"]) == (
        302,
        "https://s3.example/deposit?X-Amz-Signature=x",
    )
    assert proof.json()["sha256"] == "a" * 64
    assert (bundle.status_code, bundle.headers["location"]) == (
        302,
        "https://s3.example/bundle?X-Amz-Signature=x",
    )
    assert evidence.status_code == 200
    # The archive asks as the key's sender, never as anyone else.
    assert {getattr(q, "sender_id", None) for q in signer.asked} == {"acme"}


def test_another_senders_letter_is_not_found_not_forbidden() -> None:
    keys, _, letter = acme_with_letter()
    other = asyncio.run(issue_key(keys, "other")).key
    signer = Signer({letter: "acme"})

    answers = requests(
        keys,
        signer,
        (f"/senders/letters/{letter}/proofs", other),
        (f"/senders/letters/{letter}/proofs/deposit", other),
        (f"/senders/letters/{letter}/bundle", other),
        (f"/senders/letters/{letter}/evidence", other),
        (f"/senders/letters/{uuid.uuid4()}/proofs", other),
        ("/senders/letters/not-a-letter/proofs", other),
    )

    assert [a.status_code for a in answers] == [404] * 6
    assert {a.json()["reason"] for a in answers} == {"no such letter for this sender"}
    assert signer.asked == []  # the archive knows the letter is not theirs


def test_no_key_a_wrong_key_or_a_revoked_key_is_unauthorised() -> None:
    keys, _, letter = acme_with_letter()
    revoked = asyncio.run(issue_key(keys, "acme"))
    asyncio.run(keys.revoke(revoked.key_id))
    path = f"/senders/letters/{letter}/proofs"

    answers = requests(keys, Signer({}), (path, None), (path, "nope"), (path, revoked.key), failures=10)

    assert [a.status_code for a in answers] == [401, 401, 401]
    assert answers[0].headers["www-authenticate"].startswith("Bearer")
    assert "API key" in answers[0].json()["reason"]


def test_too_many_failures_from_one_address_get_429_with_retry_after_even_with_a_good_key() -> None:
    keys, key, letter = acme_with_letter()
    path = f"/senders/letters/{letter}/proofs"

    *failed, limited = requests(
        keys, Signer({letter: "acme"}), (path, "a"), (path, "b"), (path, key), failures=2
    )

    assert [a.status_code for a in failed] == [401, 401]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0


def test_an_unknown_proof_kind_is_not_found_and_a_silent_signer_is_503() -> None:
    keys, key, letter = acme_with_letter()

    unknown_kind, silent = requests(
        keys,
        Signer({letter: "acme"}, silent=True),
        (f"/senders/letters/{letter}/proofs/summary", key),
        (f"/senders/letters/{letter}/proofs", key),
    )

    assert unknown_kind.status_code == 404
    assert "deposit" in unknown_kind.json()["reason"]
    assert (silent.status_code, silent.headers["retry-after"]) == (503, "5")
