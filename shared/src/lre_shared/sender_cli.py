"""`lre-send`: deposit letters and follow them from a shell.

    lre-send send   --sender-id acme --sender-name "ACME SAS" --sender-email legal@acme.example \\
                    --recipient-last-name Martin --recipient-first-name Camille \\
                    --recipient-address "12 avenue de l'Opéra" --recipient-postcode 75001 \\
                    --recipient-city Paris --recipient-email camille.martin@example.org \\
                    [--attachment annexe.pdf ...] [--alert-channel sms ...] [--idempotency-key K] \\
                    lettre.pdf
    lre-send bulk   --sender-id acme --sender-name ... --sender-email ... letters.csv
    lre-send status --sender-id acme <letter id or idempotency key>
    lre-send consent record|withdraw --sender-id acme --email ...   (CPCE L.100: `consent_cli`)
    lre-send proofs --sender-id acme <letter id or idempotency key> [--get KIND|bundle --out DIR]
    lre-send events --sender-id acme [--count N] [--idle SECONDS]   (one JSON line an event: `events_cli`)

The broker URL comes from `--amqp-url` or the environment (`LRE_AMQP_URL`), so that its
password stays out of the process list. `send` and `bulk` wait for each outcome (the item
number, or every problem by field) up to `--wait` seconds. Documents over 1 MiB are uploaded
first through a presigned URL; smaller ones travel in the message.

The bulk CSV (UTF-8, header row, comma-separated) has one letter a row; its columns:

- `main`: the main PDF's path (relative to the CSV file), required;
- `attachments`: paths separated by `;`;
- `recipient_last_name`, `recipient_first_name`, `recipient_address`, `recipient_postcode`,
  `recipient_city`, `recipient_email` (required by the archive), `recipient_company`,
  `recipient_address_lines` (separated by `;`), `recipient_country` (default FR),
  `recipient_mobile`, `recipient_fax`, `recipient_landline` (E.164), `recipient_kind`
  (`consumer`, the default, or `professional`: CPCE L.100, a letter to a consumer needs their
  consent recorded first, `lre-send consent record`), `recipient_birth_date` (YYYY-MM-DD:
  compared with the identity provider's when the recipient signs in there, CPCE R.53-1);
- `alert_channels` (`sms;voice;fax`, email always), `signature_methods`
  (`certificate;one_time_code`), `verification_policy` (`default` or `cnb`),
  `idempotency_key` (advised: sending the file again then gives the same letters).

A progress bar goes to stderr; the summary (row, letter id, item number or the errors) to
stdout. The exit status is 0 when every letter was deposited, 1 otherwise.

`status` prints where the letter stands (deposited, notified, accepted, refused, unclaimed,
signed, downloaded, expired; or rejected, for a deposit the archive refused), each step with
its time, then the evidence the signer holds.

`proofs` lists the letter's sealed proofs (kind, file, SHA-256, issue time, size); with `--get`
(deposit, receipt, refusal, non_claim, envelope, or `bundle`: the evidence bundle `lre verify`
checks) it downloads that one into `--out` (default: the current folder), its SHA-256 checked.
Like every query, it travels as the URL's broker user: the sender's own.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO
from uuid import UUID

from pydantic import ValidationError

from lre_shared import consent_cli, events_cli
from lre_shared.contracts import (
    BUNDLE,
    LetterStatus,
    NoticeChannel,
    ProofKind,
    SignatureMethod,
    SubmitLetter,
    SubmittedRecipient,
    SubmittedSender,
)
from lre_shared.sender import (
    EMBED_UP_TO,
    EMBEDDED_LIMIT,
    NotTaken,
    Outcome,
    ProofUnavailable,
    SenderClient,
    UploadRefused,
)

COMMANDS = ("send", "bulk", "status", "proofs", "consent", "events")
RECIPIENT_FIELDS = (
    "company",
    "last_name",
    "first_name",
    "address",
    "postcode",
    "city",
    "country",
    "email",
    "mobile",
    "fax",
    "landline",
    "kind",
    "birth_date",
)
CSV_COLUMNS = frozenset(
    {
        "main",
        "attachments",
        "alert_channels",
        "signature_methods",
        "verification_policy",
        "idempotency_key",
        "recipient_address_lines",
        *(f"recipient_{name}" for name in RECIPIENT_FIELDS),
    }
)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(sys.argv[1:] if argv is None else argv, stdout=sys.stdout, stderr=sys.stderr))


async def run(argv: Sequence[str], *, stdout: TextIO, stderr: TextIO) -> int:
    arguments = list(argv)
    if not arguments or arguments[0] not in (*COMMANDS, "-h", "--help"):
        arguments.insert(0, "send")  # the one-letter form of earlier versions
    args = parser().parse_args(arguments)
    amqp_url = args.amqp_url or os.environ.get("LRE_AMQP_URL")
    if not amqp_url:
        print("lre-send: give --amqp-url or set LRE_AMQP_URL", file=stderr)
        return 2
    async with SenderClient(
        amqp_url, args.sender_id, embedded_limit=args.embed_up_to, timeout=args.wait
    ) as client:
        if args.command == "status":
            return await show_status(client, args.letter, stdout)
        if args.command == "proofs":
            return await show_proofs(client, args.letter, args.get, args.out, stdout)
        if args.command == "consent":
            return await consent_cli.run(client, args, stdout)
        if args.command == "events":
            return await events_cli.run(client, args, stdout)
        sender = SubmittedSender(
            id=args.sender_id, name=args.sender_name, email=args.sender_email, siret=args.sender_siret
        )
        if args.command == "bulk":
            return await send_many(client, sender, args.csv, stdout=stdout, stderr=stderr)
        return await send_one(client, sender, args, stdout)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lre-send", description="Deposit registered letters and follow them.")
    commands = top.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--amqp-url", help="default: $LRE_AMQP_URL")
    common.add_argument("--sender-id", required=True)
    common.add_argument("--wait", type=float, default=30.0, help="seconds to wait for each answer")
    common.add_argument(
        "--embed-up-to",
        type=int,
        default=EMBED_UP_TO,
        metavar="BYTES",
        help=f"larger documents are uploaded first (default {EMBED_UP_TO}; at most the archive's"
        f" MAX_EMBEDDED_BYTES, {EMBEDDED_LIMIT} by default)",
    )
    depositing = argparse.ArgumentParser(add_help=False, parents=[common])
    depositing.add_argument("--sender-name", required=True)
    depositing.add_argument("--sender-email", required=True)
    depositing.add_argument("--sender-siret")

    one = commands.add_parser("send", parents=[depositing], help="deposit one letter")
    one.add_argument("--recipient-json", type=Path, help="the recipient as JSON (the options below override)")
    for name in RECIPIENT_FIELDS:
        one.add_argument(f"--recipient-{name.replace('_', '-')}", dest=f"recipient_{name}")
    one.add_argument("--recipient-address-line", action="append", default=[], help="repeatable")
    one.add_argument("--attachment", action="append", default=[], type=Path, help="repeatable")
    one.add_argument("--alert-channel", action="append", default=[], choices=[c.value for c in NoticeChannel])
    one.add_argument(
        "--signature-method", action="append", default=[], choices=[m.value for m in SignatureMethod]
    )
    one.add_argument("--verification-policy", choices=["default", "cnb"], default="default")
    one.add_argument("--idempotency-key", help="the same key twice gives the same letter")
    one.add_argument("pdf", type=Path)

    many = commands.add_parser("bulk", parents=[depositing], help="deposit one letter per CSV row")
    many.add_argument("csv", type=Path)

    status = commands.add_parser("status", parents=[common], help="a letter's state and evidence")
    status.add_argument("letter", help="letter id, or the idempotency key it was sent with")

    proofs = commands.add_parser("proofs", parents=[common], help="a letter's proofs; download one")
    proofs.add_argument("letter", help="letter id, or the idempotency key it was sent with")
    proofs.add_argument("--get", choices=[*(k.value for k in ProofKind), BUNDLE], help="download this one")
    proofs.add_argument("--out", type=Path, default=Path(), help="folder to download into (default: here)")

    events_cli.register(commands, common)  # `events`: follow the sender's queue
    consent_cli.register(commands, common)  # `consent record | withdraw` (CPCE L.100)
    return top


# ----------------------------------------------------------------------- send


async def send_one(
    client: SenderClient, sender: SubmittedSender, args: argparse.Namespace, out: TextIO
) -> int:
    recipient: dict[str, object] = {}
    if args.recipient_json is not None:
        recipient = json.loads(args.recipient_json.read_text())
    recipient |= {
        n: getattr(args, f"recipient_{n}") for n in RECIPIENT_FIELDS if getattr(args, f"recipient_{n}")
    }
    if args.recipient_address_line:
        recipient["address_lines"] = tuple(args.recipient_address_line)
    try:
        command = await client.letter(
            SubmittedRecipient.model_validate(recipient),
            args.pdf,
            sender=sender,
            attachments=tuple(args.attachment),
            alert_channels=(NoticeChannel.email, *(NoticeChannel(c) for c in args.alert_channel)),
            signature_methods=tuple(SignatureMethod(m) for m in args.signature_method)
            or (SignatureMethod.certificate, SignatureMethod.one_time_code),
            verification_policy=args.verification_policy,
            idempotency_key=args.idempotency_key,
        )
    except (OSError, ValidationError, UploadRefused, TimeoutError) as exc:
        print(f"not sent: {_describe(exc)}", file=out)
        return 1
    try:
        await client.send(command)
    except NotTaken as exc:
        print(f"not sent: {exc}", file=out)
        return 1
    outcome = await client.outcome(command)
    print(_summary_line(None, command.correlation_id, outcome), file=out)
    return 0 if outcome is not None and outcome.deposited else 1


# ----------------------------------------------------------------------- bulk


@dataclass
class Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    command: SubmitLetter | None = None
    error: str | None = None
    outcome: Outcome | None = None


async def send_many(
    client: SenderClient, sender: SubmittedSender, path: Path, *, stdout: TextIO, stderr: TextIO
) -> int:
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            unknown = set(reader.fieldnames or ()) - CSV_COLUMNS
            if unknown or "main" not in (reader.fieldnames or ()):
                print(f"lre-send: {path}: {_columns_problem(unknown)}", file=stderr)
                return 2
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"lre-send: {path}: {exc}", file=stderr)
        return 2
    rows = [Row(number) for number in range(2, len(records) + 2)]
    bar = Progress(len(rows), stderr)
    for row, record in zip(rows, records, strict=True):
        try:
            row.command = await _row_letter(client, sender, record, path.parent)
            await client.send(row.command)
        except (OSError, ValidationError, UploadRefused, NotTaken, TimeoutError, ValueError) as exc:
            row.error = _describe(exc)
            bar.advance()
    for row in rows:
        if row.command is not None and row.error is None:
            row.outcome = await client.outcome(row.command)
            bar.advance()
    bar.close()
    for row in rows:
        letter_id = row.command.correlation_id if row.command is not None else None
        print(_summary_line(row.number, letter_id, row.outcome, row.error), file=stdout)
    deposited = sum(1 for r in rows if r.outcome is not None and r.outcome.deposited)
    print(f"{deposited} deposited, {len(rows) - deposited} not, of {len(rows)} rows", file=stdout)
    return 0 if deposited == len(rows) else 1


async def _row_letter(
    client: SenderClient, sender: SubmittedSender, record: dict[str, str | None], base: Path
) -> SubmitLetter:
    def cell(name: str) -> str:
        return (record.get(name) or "").strip()

    def listed(name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in cell(name).split(";") if part.strip())

    if not cell("main"):
        raise ValueError("main: the main document's path is required")
    recipient: dict[str, object] = {
        n: cell(f"recipient_{n}") for n in RECIPIENT_FIELDS if cell(f"recipient_{n}")
    }
    recipient["address_lines"] = listed("recipient_address_lines")
    methods = listed("signature_methods")
    return await client.letter(
        SubmittedRecipient.model_validate(recipient),
        base / cell("main"),
        sender=sender,
        attachments=tuple(base / p for p in listed("attachments")),
        alert_channels=(NoticeChannel.email, *(NoticeChannel(c) for c in listed("alert_channels"))),
        signature_methods=tuple(SignatureMethod(m) for m in methods)
        or (SignatureMethod.certificate, SignatureMethod.one_time_code),
        verification_policy=cell("verification_policy") or "default",
        idempotency_key=cell("idempotency_key") or None,
    )


def _columns_problem(unknown: set[str]) -> str:
    if unknown:
        return f"unknown columns {', '.join(sorted(unknown))}; known: {', '.join(sorted(CSV_COLUMNS))}"
    return "a 'main' column (the main document's path) is required"


class Progress:
    """A one-line progress bar on a terminal's stderr (one line a step elsewhere)."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.draw()

    def advance(self) -> None:
        self.done += 1
        self.draw()

    def draw(self) -> None:
        filled = self.WIDTH * self.done // max(self.total, 1)
        line = f"letters [{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total}"
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(line + end)
        self.stream.flush()

    def close(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")


def _summary_line(
    number: int | None, letter_id: UUID | None, outcome: Outcome | None, error: str | None = None
) -> str:
    where = f"row {number}: " if number is not None else ""
    letter = f"letter {letter_id} " if letter_id is not None else ""
    if error is not None:
        return f"{where}{letter}NOT SENT: {error}"
    if outcome is None:
        return f"{where}{letter}NO ANSWER yet: see `lre-send status {letter_id}` later"
    if outcome.deposited:
        return f"{where}letter {outcome.letter_id} DEPOSITED item number {outcome.item_number}"
    problems = "; ".join(f"{p.field}: {p.reason}" for p in outcome.problems)
    return f"{where}{letter}REFUSED: {problems}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}" for error in exc.errors()
        )
    if isinstance(exc, TimeoutError):
        return "the archive did not answer in time"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


# --------------------------------------------------------------------- status


async def show_status(client: SenderClient, letter: str, out: TextIO) -> int:
    try:
        letter_id, key = UUID(letter), None
    except ValueError:
        letter_id, key = None, letter
    try:
        status = await client.status(letter_id, key)
    except TimeoutError:
        print("the archive did not answer in time", file=out)
        return 1
    print(_status_text(status, letter), file=out)
    if status.letter_id is None:
        return 1
    try:
        evidence = await client.evidence(status.letter_id)
    except TimeoutError:
        print("evidence: the signer did not answer in time; try again later", file=out)
        return 0
    print(f"evidence ({len(evidence.records)} records):", file=out)
    for record in evidence.records:
        reasons = f" ({'; '.join(record.reasons)})" if record.reasons else ""
        print(f"  {record.event_time.isoformat()}  {record.event}  {record.evidence_id}{reasons}", file=out)
    return 0


def _status_text(status: LetterStatus, asked: str) -> str:
    if status.state == "unknown":
        return f"{asked}: unknown to the archive (not handled yet, or not sent by this sender)"
    # Where the letter stands (an archive older than `stage` gives the deposit's state only).
    lines = [f"letter {status.letter_id}: {status.stage or status.state}"]
    if status.item_number:
        lines.append(f"  item number     {status.item_number}")
    for label, value in (
        ("deposited at", status.deposited_at),
        ("rejected at", status.rejected_at),  # the deposit, by the archive
        ("notified at", status.notified_at),
        ("accepted at", status.accepted_at),
        ("refused at", status.refused_at),  # the letter, by its recipient
        ("unclaimed at", status.unclaimed_at),
        ("receipt signed", status.receipt_signed_at),
        ("downloaded at", status.handed_over_at),
        ("content until", status.content_expires_at),
        ("expired at" if status.stage == "expired" else "content deleted", status.content_deleted_at),
    ):
        if value is not None:
            lines.append(f"  {label:<15} {value.isoformat()}")
    lines.extend(f"  problem         {p.field}: {p.reason}" for p in status.problems)
    return "\n".join(lines)


# --------------------------------------------------------------------- proofs


async def show_proofs(client: SenderClient, letter: str, get: str | None, out_dir: Path, out: TextIO) -> int:
    """The letter's proofs (CPCE R.53-3 IV), or one of them (or the bundle) downloaded."""
    letter_id: UUID | None
    try:
        letter_id = UUID(letter)
    except ValueError:
        try:
            letter_id = (await client.status(None, letter)).letter_id  # an idempotency key
        except TimeoutError:
            print("the archive did not answer in time", file=out)
            return 1
    if letter_id is None:
        print(f"{letter}: unknown to the archive (not handled yet, or not sent by this sender)", file=out)
        return 1
    try:
        if get is not None:
            kind: ProofKind | Literal["bundle"] = "bundle" if get == BUNDLE else ProofKind(get)
            written = await client.proof(letter_id, kind, out_dir)
            print(f"{written}", file=out)
            return 0
        listed = await client.proofs(letter_id)
    except TimeoutError:
        print("the signer did not answer in time; try again later", file=out)
        return 1
    except ProofUnavailable as exc:
        print(str(exc), file=out)
        return 1
    if not listed.proofs:
        print(f"letter {letter_id}: no proof (none issued yet, or not a letter of this sender)", file=out)
        return 1
    print(f"letter {letter_id}: {len(listed.proofs)} proofs", file=out)
    for proof in listed.proofs:
        print(
            f"  {proof.kind.value:<10} {proof.filename}  {proof.issued_at.isoformat()}  {proof.size} bytes"
            f"  sha256 {proof.sha256}",
            file=out,
        )
    return 0
