"""After a run of the whole journey: is every letter where it should be, once?

Reads every store of a platform, never asks a service: each service's PostgreSQL database,
the evidence bucket in S3, and the SMTP catcher's `.eml` files. Used by `bench/journey.py`
and by the fault tests (tests/faults/), which import it.

Public API::

    from bench.checker import Check, Fate, Letter, Stores, check

    stores = Stores(
        database_urls={"archive": ..., "notifier": ..., "pickup": ..., "signer": ...},
        s3_endpoint="http://127.0.0.1:8333", s3_access_key=..., s3_secret_key=...,
        mail_dir=Path(...),                  # the SMTP catcher's .eml files (one per message)
        evidence_bucket=EVIDENCE_BUCKET,     # lre_shared.objects' name unless told
    )
    letters = [Letter(letter_id, Fate.accepted, recipient_email), ...]
    result: Check = await check(stores, letters, wait_seconds=300)
    assert result.lost == 0 and result.doubled == 0 and result.broken_chains == 0, result.problems

`check` first waits (up to `wait_seconds`) until every letter has its final evidence record
and every record is copied to the bucket, then judges once. What it counts:

lost (one per letter at most: the letter is counted once whatever is missing)
    - the letter is not in the archive, or the archive's status is not its fate's
      (accepted letters: `accepted`; refused: `refused`; unclaimed: `unclaimed`);
    - the pickup site does not hold it in the fate's state;
    - an evidence record the fate needs is missing (ETSI EN 319 522 events):
      SubmissionAcceptance and NotificationForAcceptance for every letter, then
      ConsignmentAcceptance + ReceiptAcknowledgement (accepted, AR signed),
      ConsignmentRejection (refused) or AcceptanceRejectionExpiry (unclaimed, non réclamée,
      CPCE R.53-3);
    - the notifier has no notice recorded for it, or no email attempt `sent`;
    - no email reached the SMTP catcher for its recipient;
    - a committed record (or its seal) is missing from the evidence bucket.
doubled (one per extra thing found)
    - a second record of an event that happens once per letter (all of the above but
      NotificationForAcceptance; a ContentHandover may come once too); more
      NotificationForAcceptance records than notice rounds (1, plus 1 for a `reminded`
      letter); two records of one bus message (`source_message_id`) or of one email
      (`provider_message_id`);
    - a second notice (notifier `notices` row) of the first round for the letter, or two
      `sent` email attempts for one notice;
    - an email received twice with the same Message-ID by the SMTP catcher;
    - a second reminder sent for the same letter and round (only if reminders were due).
broken_chains (one per letter)
    - the letter's records are not numbered 1..n without gap or repeat, the first has no
      `previous_sha256`, each other's equals the SHA-256 of the record before (the rule the
      signer's `lre verify` checks on a bundle, `signer.domain.verification.check_chain`), each
      stored `record_sha256` is the SHA-256 of its stored bytes, and the bucket's copy is
      byte for byte the journal's (for the records it fetches: all of them up to
      `fetch_limit`, default 2,000, a spread sample beyond).

proofs_missing (one per letter), counted apart from lost: the letter and its records are there
    - the sender's deposit proof or its decision's (receipt, refusal, non_claim: signer
      `proofs`) was never made.
misordered (one per letter), reported only: the chain's first record is not the deposit's.

`Check.ok` is true when lost, doubled, broken_chains and proofs_missing are all 0.
`Check.problems` holds one line per finding, the letter id first, to print or assert on.
`MailFolder(dir)` reads the catcher's folder incrementally (`scan()` → the new `Mail`s: `to`,
`message_id`, `received_at`); `connect(url)` is an asyncpg connection that waits while the
server has no free slot or is restarting; `fetch(url, query, *args)` and `KeptConnection(url)`
(a poller's connection) ask again after a restart of the database server, `from_bucket(call)`
after one of the S3 store, each with a bounded back-off (`PATIENCE_SECONDS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import urllib3
from minio import Minio
from minio.error import ServerError

from lre_shared.objects import EVIDENCE_BUCKET


class Fate(StrEnum):
    """How a letter's journey ends."""

    accepted = "accepted"  # accepted, AR signed
    refused = "refused"
    unclaimed = "unclaimed"  # non réclamée: the window closed without a decision (CPCE R.53-3)


# ETSI EN 319 522 events each letter of a fate has exactly once.
EVERY_LETTER = ("SubmissionAcceptance", "NotificationForAcceptance")
REQUIRED: dict[Fate, tuple[str, ...]] = {
    Fate.accepted: (*EVERY_LETTER, "ConsignmentAcceptance", "ReceiptAcknowledgement"),
    Fate.refused: (*EVERY_LETTER, "ConsignmentRejection"),
    Fate.unclaimed: (*EVERY_LETTER, "AcceptanceRejectionExpiry"),
}
# The record that ends each journey: once it is there, the letter is settled.
FINAL: dict[Fate, str] = {
    Fate.accepted: "ReceiptAcknowledgement",
    Fate.refused: "ConsignmentRejection",
    Fate.unclaimed: "AcceptanceRejectionExpiry",
}
# The sender's proof PDFs (signer `proofs`, ProofKind) each fate ends with: the deposit's and the
# decision's (preuve de dépôt, de réception, de refus, de non-réclamation).
PROOFS: dict[Fate, tuple[str, ...]] = {
    Fate.accepted: ("deposit", "receipt"),
    Fate.refused: ("deposit", "refusal"),
    Fate.unclaimed: ("deposit", "non_claim"),
}
# Events a letter has once at most, whatever its fate. NotificationForAcceptance comes once a
# notice round: the notice, then each reminder (R.53-3 allows reminders until the decision).
ONCE = frozenset(
    {
        "SubmissionAcceptance",
        "ConsignmentAcceptance",
        "ConsignmentRejection",
        "AcceptanceRejectionExpiry",
        "ReceiptAcknowledgement",
        "ContentHandover",
        "SubmissionRejection",
    }
)


@dataclass(frozen=True)
class Stores:
    database_urls: Mapping[str, str]  # service → its PostgreSQL database
    s3_endpoint: str  # http://host:port
    s3_access_key: str
    s3_secret_key: str
    mail_dir: Path
    evidence_bucket: str = EVIDENCE_BUCKET

    def s3(self) -> Minio:
        secure = self.s3_endpoint.startswith("https://")
        host = self.s3_endpoint.split("://", 1)[-1].rstrip("/")
        return Minio(host, access_key=self.s3_access_key, secret_key=self.s3_secret_key, secure=secure)


@dataclass(frozen=True)
class Letter:
    letter_id: UUID
    fate: Fate
    recipient_email: str
    reminded: bool = False  # a reminder was made due for it: exactly one reminder round expected


@dataclass
class Check:
    letters: int = 0
    lost: int = 0
    doubled: int = 0
    broken_chains: int = 0
    # Letters settled without one of their proof PDFs, and chains whose first record is not the
    # deposit's: counted apart from `lost` (the letter and its records are all there).
    proofs_missing: int = 0
    misordered: int = 0
    records: int = 0  # evidence records read
    fetched: int = 0  # of which compared with their bucket copy
    emails: int = 0  # notice emails the SMTP catcher holds for these letters
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.doubled == 0 and self.broken_chains == 0 and self.proofs_missing == 0

    def summary(self) -> str:
        return (
            f"checked {self.letters} letters, {self.records} evidence records ({self.fetched} compared with"
            f" the bucket), {self.emails} notice emails: lost={self.lost} doubled={self.doubled}"
            f" broken_chains={self.broken_chains} proofs_missing={self.proofs_missing}"
            f" misordered={self.misordered}"
        )


@dataclass(frozen=True)
class Mail:
    to: str
    message_id: str
    received_at: float  # epoch seconds, from the catcher's file name
    path: Path


def mail_time(path: Path) -> float:
    """The catcher names each file `<UTC %Y%m%dT%H%M%S.%fZ>-<uuid>.eml` as it receives it."""
    from datetime import UTC, datetime

    stamp = path.name.split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC).timestamp()


def read_mail(path: Path) -> Mail:
    with path.open("rb") as handle:
        headers = BytesParser(policy=default_policy).parse(handle, headersonly=True)
    return Mail(
        to=parseaddr(str(headers.get("To", "")))[1].strip().lower(),
        message_id=str(headers.get("Message-ID", "")).strip(),
        received_at=mail_time(path),
        path=path,
    )


class MailFolder:
    """The SMTP catcher's folder, read incrementally (each file parsed once)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.mails: list[Mail] = []
        self._seen: set[str] = set()

    def scan(self) -> list[Mail]:
        """The mails that arrived since the last scan."""
        new: list[Mail] = []
        if not self.directory.exists():
            return new
        for entry in sorted(e.name for e in self.directory.iterdir() if e.name.endswith(".eml")):
            if entry in self._seen:
                continue
            self._seen.add(entry)
            new.append(read_mail(self.directory / entry))
        self.mails.extend(new)
        return new


# What a database server restarting (or just back) answers: the connection is opened again.
UNAVAILABLE = (
    OSError,  # refused, reset or timed out
    asyncpg.PostgresConnectionError,  # the connection died under a query (SQLSTATE class 08)
    asyncpg.CannotConnectNowError,  # starting up or recovering after a crash (57P03)
    asyncpg.AdminShutdownError,  # a fast shutdown ended the session (57P01)
    asyncpg.CrashShutdownError,  # another backend crashed (57P02)
    asyncpg.InterfaceError,  # a call on a connection the server has closed
)
# What the S3 store answers while it restarts (the client's own few retries spent).
BUCKET_UNAVAILABLE = (OSError, urllib3.exceptions.HTTPError, ServerError)
PATIENCE_SECONDS = 180.0  # a restart and crash recovery take seconds; a store gone for minutes fails the run


T = TypeVar("T")


def backoff(patience: float = PATIENCE_SECONDS) -> Iterator[float]:
    """Pauses between tries, from 0.2 s doubling to 5 s, while `patience` seconds last."""
    deadline = time.monotonic() + patience
    pause = 0.2
    while time.monotonic() < deadline:
        yield pause
        pause = min(5.0, pause * 2)


async def patiently(call: Callable[[], Awaitable[T]], patience: float = PATIENCE_SECONDS) -> T:
    """`call()`, tried again while the database server is unavailable (UNAVAILABLE), with
    back-off for `patience` seconds; then once more, its error raised."""
    for pause in backoff(patience):
        try:
            return await call()
        except UNAVAILABLE:
            await asyncio.sleep(pause)
    return await call()


def from_bucket(call: Callable[[], T], patience: float = PATIENCE_SECONDS) -> T:
    """`call()` on the S3 store, tried again while it is unavailable (BUCKET_UNAVAILABLE)."""
    for pause in backoff(patience):
        try:
            return call()
        except BUCKET_UNAVAILABLE:
            time.sleep(pause)
    return call()


async def connect(url: str, patience: float = PATIENCE_SECONDS) -> asyncpg.Connection:
    """A connection, waiting while the server has no slot free (a shared server's
    `max_connections` is easily reached by two platforms and their tests) or is restarting."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await patiently(lambda: asyncpg.connect(url), max(0.0, deadline - time.monotonic()))
        except asyncpg.TooManyConnectionsError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """The rows of `query` on a connection of its own, asked again if the server restarts."""

    async def once() -> list[asyncpg.Record]:
        conn = await connect(url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            with contextlib.suppress(*UNAVAILABLE):
                await conn.close()

    return await patiently(once)


class KeptConnection:
    """One connection kept for polling (a busy shared server may have no slot free later),
    opened again when the server restarted under it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: asyncpg.Connection | None = None

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def once() -> list[asyncpg.Record]:
            if self._conn is None or self._conn.is_closed():
                self._conn = await connect(self.url)
            try:
                return list(await self._conn.fetch(query, *args))
            except UNAVAILABLE:
                self._conn.terminate()
                self._conn = None
                raise

        return await patiently(once)

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await self._conn.close()
            self._conn = None


async def settled(stores: Stores, letters: Sequence[Letter], signer: KeptConnection) -> tuple[int, int]:
    """How many letters have their final record and no proof PDF still to issue (the signer
    issues them just after their records, `proof_jobs`), and how many records wait for the
    bucket (on `signer`, the poller's connection to the signer's database)."""
    ids = [letter.letter_id for letter in letters]
    rows = await signer.fetch(
        "SELECT letter_id, event FROM evidence WHERE letter_id = ANY($1::uuid[]) AND event = ANY($2::text[])",
        ids,
        list(FINAL.values()),
    )
    have = {(row["letter_id"], row["event"]) for row in rows}
    jobs = await signer.fetch(
        "SELECT DISTINCT letter_id FROM proof_jobs WHERE letter_id = ANY($1::uuid[])", ids
    )
    issuing = {row["letter_id"] for row in jobs}
    done = sum(
        (letter.letter_id, FINAL[letter.fate]) in have and letter.letter_id not in issuing
        for letter in letters
    )
    waiting = await signer.fetch(
        "SELECT count(*) AS n FROM evidence WHERE letter_id = ANY($1::uuid[]) AND archived_at IS NULL",
        ids,
    )
    return done, int(waiting[0]["n"])


async def check(
    stores: Stores,
    letters: Sequence[Letter],
    *,
    wait_seconds: float = 300.0,
    fetch_limit: int = 2000,
    mails: MailFolder | None = None,
) -> Check:
    """Wait until every letter is settled and archived (or `wait_seconds` pass), then judge
    every store (see the module's docstring)."""
    deadline = time.monotonic() + wait_seconds
    signer = KeptConnection(stores.database_urls["signer"])
    try:
        while True:
            done, waiting = await settled(stores, letters, signer)
            if (done == len(letters) and waiting == 0) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(1.0)
    finally:
        await signer.close()
    result = Check(letters=len(letters))
    lost: set[UUID] = set()
    by_id = {letter.letter_id: letter for letter in letters}
    ids = list(by_id)

    def lose(letter_id: UUID, why: str) -> None:
        lost.add(letter_id)
        result.problems.append(f"{letter_id} lost: {why}")

    def double(letter_id: UUID | str, why: str, extra: int = 1) -> None:
        result.doubled += extra
        result.problems.append(f"{letter_id} doubled: {why}")

    await _check_archive(stores, by_id, lose)
    await _check_pickup(stores, by_id, lose)
    records = await _check_evidence(stores, by_id, lose, double, result)
    await _check_bucket(stores, records, lose, result, fetch_limit)
    await _check_proofs(stores, by_id, result)
    await _check_notices(stores, by_id, ids, lose, double, mails or MailFolder(stores.mail_dir), result)
    result.lost = len(lost)
    return result


async def _check_archive(stores: Stores, by_id: Mapping[UUID, Letter], lose: Any) -> None:
    rows = await fetch(
        stores.database_urls["archive"],
        "SELECT letter_id, accepted_at, receipt_signed_at, refused_at, unclaimed_at FROM letters"
        " WHERE letter_id = ANY($1::uuid[])",
        list(by_id),
    )
    found = {row["letter_id"]: row for row in rows}
    for letter_id, letter in by_id.items():
        row = found.get(letter_id)
        if row is None:
            lose(letter_id, "not in the archive")
            continue
        states = {
            Fate.accepted: row["accepted_at"] is not None and row["receipt_signed_at"] is not None,
            Fate.refused: row["refused_at"] is not None,
            Fate.unclaimed: row["unclaimed_at"] is not None,
        }
        if not states[letter.fate] or sum(states.values()) != 1:
            lose(letter_id, f"the archive's state is not {letter.fate} alone: {dict(row)}")


async def _check_pickup(stores: Stores, by_id: Mapping[UUID, Letter], lose: Any) -> None:
    rows = await fetch(
        stores.database_urls["pickup"],
        "SELECT letter_id, state, signed_at FROM letters WHERE letter_id = ANY($1::uuid[])",
        list(by_id),
    )
    found = {row["letter_id"]: row for row in rows}
    for letter_id, letter in by_id.items():
        row = found.get(letter_id)
        if row is None:
            lose(letter_id, "unknown to the pickup site")
        elif row["state"] != letter.fate.value or (letter.fate is Fate.accepted and row["signed_at"] is None):
            lose(letter_id, f"the pickup site holds it {row['state']} (signed_at {row['signed_at']})")


@dataclass(frozen=True)
class _Record:
    letter_id: UUID
    seq: int
    event: str
    body: bytes
    sha256: str
    seal: bytes | None
    archived: bool


async def _check_evidence(
    stores: Stores, by_id: Mapping[UUID, Letter], lose: Any, double: Any, result: Check
) -> list[_Record]:
    rows = await fetch(
        stores.database_urls["signer"],
        "SELECT letter_id, seq, event, record, record_sha256, previous_sha256, seal, source_message_id,"
        " archived_at IS NOT NULL AS archived FROM evidence WHERE letter_id = ANY($1::uuid[])"
        " ORDER BY letter_id, seq",
        list(by_id),
    )
    result.records = len(rows)
    chains: dict[UUID, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        chains[row["letter_id"]].append(row)
    for letter_id, letter in by_id.items():
        chain = chains.get(letter_id, [])
        events = Counter(row["event"] for row in chain)
        for event in REQUIRED[letter.fate]:
            if events[event] == 0:
                lose(letter_id, f"no {event} record")
        for event, count in events.items():
            if event in ONCE and count > 1:
                double(letter_id, f"{count} {event} records", count - 1)
        rounds = 1 + int(letter.reminded)
        if events["NotificationForAcceptance"] > rounds:
            extra = events["NotificationForAcceptance"] - rounds
            double(
                letter_id, f"{events['NotificationForAcceptance']} NotificationForAcceptance records", extra
            )
        sources = Counter(row["source_message_id"] for row in chain)
        for source, count in sources.items():
            if count > 1:
                double(letter_id, f"message {source} recorded {count} times", count - 1)
        emails = Counter(
            json.loads(bytes(row["record"])).get("details", {}).get("provider_message_id")
            for row in chain
            if row["event"] == "NotificationForAcceptance"
        )
        for message_id, count in emails.items():
            if message_id and count > 1:
                double(letter_id, f"email {message_id} recorded {count} times as sent", count - 1)
        if chain and chain[0]["event"] != "SubmissionAcceptance":
            result.misordered += 1
            result.problems.append(
                f"{letter_id} misordered: record 1 is {chain[0]['event']}, not the deposit's"
            )
        broken = _chain_breaks(chain)
        if broken:
            result.broken_chains += 1
            result.problems.append(f"{letter_id} chain broken: {broken}")
    return [
        _Record(
            row["letter_id"],
            row["seq"],
            row["event"],
            bytes(row["record"]),
            row["record_sha256"],
            bytes(row["seal"]) if row["seal"] is not None else None,
            row["archived"],
        )
        for row in rows
    ]


def _chain_breaks(chain: Sequence[Mapping[str, Any]]) -> str | None:
    """What is wrong with one letter's records in journal order, or None (the rule of
    `signer.domain.verification.check_chain`: positions 1..n, each linked to the one before)."""
    previous_sha: str | None = None
    for expected, row in enumerate(chain, start=1):
        if row["seq"] != expected:
            return f"record {row['seq']} where {expected} was due"
        if hashlib.sha256(bytes(row["record"])).hexdigest() != row["record_sha256"]:
            return f"record {expected}'s bytes do not hash to its record_sha256"
        if row["previous_sha256"] != previous_sha:
            return f"record {expected} links to {row['previous_sha256']}, not {previous_sha}"
        previous_sha = row["record_sha256"]
    return None


async def _check_bucket(
    stores: Stores, records: Sequence[_Record], lose: Any, result: Check, fetch_limit: int
) -> None:
    """Every record (and its seal) is in the evidence bucket under `letters/<id>/records/<seq>`
    (`signer.service_layer.archiving.record_key`); the copies fetched are byte for byte the
    journal's."""
    client = stores.s3()
    letters = sorted({record.letter_id for record in records})

    def listed(letter_id: UUID) -> set[str]:
        return from_bucket(
            lambda: {
                obj.object_name or ""
                for obj in client.list_objects(stores.evidence_bucket, prefix=f"letters/{letter_id}/records/")
            }
        )

    with ThreadPoolExecutor(8) as pool:
        keys = set().union(*pool.map(listed, letters)) if letters else set()
        step = max(1, len(records) // max(1, fetch_limit))
        sample = list(records[::step])

        def copy(record: _Record) -> bytes:
            response = client.get_object(
                stores.evidence_bucket, f"letters/{record.letter_id}/records/{record.seq:04d}.json"
            )
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        def same(record: _Record) -> bool:
            return from_bucket(lambda: copy(record)) == record.body

        for record in records:
            key = f"letters/{record.letter_id}/records/{record.seq:04d}"
            if key + ".json" not in keys:
                lose(record.letter_id, f"record {record.seq} ({record.event}) not in the evidence bucket")
            elif record.seal is not None and key + ".seal.json" not in keys:
                lose(record.letter_id, f"the seal of record {record.seq} not in the evidence bucket")
        present = [
            record for record in sample if f"letters/{record.letter_id}/records/{record.seq:04d}.json" in keys
        ]
        for record, equal in zip(present, pool.map(same, present), strict=True):
            if not equal:
                result.broken_chains += 1
                result.problems.append(
                    f"{record.letter_id} chain broken: the bucket's record {record.seq}"
                    " differs from the journal's"
                )
        result.fetched = len(present)


async def _check_notices(
    stores: Stores,
    by_id: Mapping[UUID, Letter],
    ids: list[UUID],
    lose: Any,
    double: Any,
    mails: MailFolder,
    result: Check,
) -> None:
    notices = await fetch(
        stores.database_urls["notifier"],
        "SELECT notice_id, letter_id, command->>'kind' AS kind, command->>'round_id' AS round_id,"
        " command->>'channel' AS channel FROM notices WHERE letter_id = ANY($1::uuid[])",
        ids,
    )
    attempts = await fetch(
        stores.database_urls["notifier"],
        "SELECT notice_id, letter_id, outcome FROM delivery_attempts"
        " WHERE letter_id = ANY($1::uuid[]) AND channel = 'email' AND outcome = 'sent'",
        ids,
    )
    first_rounds: dict[UUID, set[str | None]] = defaultdict(set)
    reminder_rounds: dict[UUID, set[str | None]] = defaultdict(set)
    email_notices: dict[UUID, int] = Counter()
    for row in notices:
        rounds = reminder_rounds if row["kind"] == "reminder" else first_rounds
        rounds[row["letter_id"]].add(row["round_id"])
        if row["kind"] != "reminder" and row["channel"] == "email":
            email_notices[row["letter_id"]] += 1
    sent: Counter[UUID] = Counter(row["notice_id"] for row in attempts)
    sent_letters = {row["letter_id"] for row in attempts}
    for letter_id, letter in by_id.items():
        if not first_rounds.get(letter_id):
            lose(letter_id, "no notice recorded by the notifier")
        elif len(first_rounds[letter_id]) > 1 or email_notices[letter_id] > 1:
            double(
                letter_id,
                f"{email_notices[letter_id]} email notices recorded in {len(first_rounds[letter_id])} rounds",
            )
        if letter_id not in sent_letters:
            lose(letter_id, "no email attempt sent")
        expected_reminders = 1 if letter.reminded else 0
        if len(reminder_rounds.get(letter_id, ())) > expected_reminders:
            double(letter_id, f"{len(reminder_rounds[letter_id])} reminder rounds, {expected_reminders} due")
        elif letter.reminded and not reminder_rounds.get(letter_id):
            lose(letter_id, "the reminder made due was never queued")
    for notice_id, count in sent.items():
        if count > 1:
            double(notice_id, f"notice {notice_id} sent {count} times by email", count - 1)

    mails.scan()
    by_address = {letter.recipient_email.lower(): letter for letter in by_id.values()}
    received: Counter[UUID] = Counter()
    message_ids: Counter[str] = Counter()
    for mail in mails.mails:
        addressed = by_address.get(mail.to)
        if addressed is None:
            continue
        received[addressed.letter_id] += 1
        message_ids[mail.message_id] += 1
    result.emails = sum(received.values())
    for letter_id in by_id:
        if received[letter_id] == 0:
            lose(letter_id, "no email reached the SMTP catcher")
    for message_id, count in message_ids.items():
        if count > 1:
            double(message_id, f"email {message_id} received {count} times", count - 1)


async def _check_proofs(stores: Stores, by_id: Mapping[UUID, Letter], result: Check) -> None:
    rows = await fetch(
        stores.database_urls["signer"],
        "SELECT letter_id, kind FROM proofs WHERE letter_id = ANY($1::uuid[])",
        list(by_id),
    )
    have = {(row["letter_id"], row["kind"]) for row in rows}
    for letter_id, letter in by_id.items():
        missing = [kind for kind in PROOFS[letter.fate] if (letter_id, kind) not in have]
        if missing:
            result.proofs_missing += 1
            result.problems.append(f"{letter_id} proofs missing: {', '.join(missing)}")
