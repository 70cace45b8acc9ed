"""`lre-send` against the archive on the real parts: one letter, a CSV of letters with a bad
row, and a letter's status with its evidence list from a signer stand-in on the bus."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import EvidenceEntry, EvidenceListed, LetterRefused, ListEvidence
from lre_shared.sender_cli import run
from lre_shared.topology import SENDERS_COMMANDS_EXCHANGE, Service, commands_exchange
from services.archive.tests.integration.served import EMBEDDED_LIMIT, ServedArchive
from tests.support.bus import declare_exchange, eventually, publish

pytestmark = pytest.mark.integration


def sender_options(amqp_url: str) -> list[str]:
    return [
        "--amqp-url",
        amqp_url,
        "--sender-id",
        DEMO_SENDER.id,
        "--sender-name",
        DEMO_SENDER.name,
        "--sender-email",
        DEMO_SENDER.email,
        "--wait",
        "20",
        "--embed-up-to",
        str(EMBEDDED_LIMIT),
    ]


async def lre_send(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def recipient_row(**changes: str) -> dict[str, str]:
    r = DEMO_RECIPIENT
    row = {
        "recipient_last_name": r.last_name,
        "recipient_first_name": r.first_name,
        "recipient_address": r.address,
        "recipient_postcode": r.postcode,
        "recipient_city": r.city,
        "recipient_email": str(r.email),
        "recipient_kind": r.kind,  # a professional: no consent to record first (CPCE L.100)
    }
    return row | changes


async def test_one_letter_with_a_big_document_is_uploaded_then_deposited(
    served_archive: ServedArchive, amqp_url: str, tmp_path: Path
) -> None:
    big = tmp_path / "contrat.pdf"
    big.write_bytes(demo_pdf("x" * (EMBEDDED_LIMIT + 1000)))
    annex = tmp_path / "annexe.pdf"
    annex.write_bytes(demo_pdf("Annexe"))
    r = DEMO_RECIPIENT

    code, out, _ = await lre_send(
        "send",
        *sender_options(amqp_url),
        *("--recipient-last-name", r.last_name, "--recipient-first-name", r.first_name),
        *("--recipient-address", r.address, "--recipient-postcode", r.postcode),
        *("--recipient-city", r.city, "--recipient-email", str(r.email)),
        *("--recipient-kind", r.kind, "--recipient-birth-date", "1984-02-29"),
        *("--attachment", str(annex)),
        str(big),
    )

    assert code == 0, out
    assert "DEPOSITED item number" in out
    item_number = out.rsplit(" ", 1)[1].strip()
    letter_id = await served_archive.pool.fetchval(
        "SELECT letter_id FROM letters WHERE item_number = $1", item_number
    )
    taken = await served_archive.pool.fetch("SELECT filename FROM uploads WHERE letter_id = $1", letter_id)
    assert [row["filename"] for row in taken] == ["contrat.pdf"]  # the annex, small, was embedded
    names = await served_archive.pool.fetch(
        "SELECT filename FROM documents WHERE letter_id = $1 ORDER BY role DESC", letter_id
    )
    assert [row["filename"] for row in names] == ["contrat.pdf", "annexe.pdf"]
    # The birth date given goes with the recipient, for the identity provider's (CPCE R.53-1).
    deposited = await served_archive.pool.fetchval(
        "SELECT deposited_event FROM letters WHERE letter_id = $1", letter_id
    )
    assert json.loads(bytes(deposited))["recipient"]["birth_date"] == "1984-02-29"


async def test_a_csv_of_letters_is_deposited_with_a_progress_bar_and_a_summary_naming_the_bad_rows(
    served_archive: ServedArchive, amqp_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.pdf").write_bytes(demo_pdf("Lettre A"))
    (tmp_path / "b.pdf").write_bytes(demo_pdf("x" * (EMBEDDED_LIMIT + 1000)))
    (tmp_path / "annexe.pdf").write_bytes(demo_pdf("Annexe"))
    rows = [
        {"main": "a.pdf", "attachments": "annexe.pdf", **recipient_row()},
        {"main": "b.pdf", "alert_channels": "sms", **recipient_row(recipient_mobile="+33612345678")},
        {"main": "a.pdf", **recipient_row(recipient_email="pas-une-adresse")},
        {"main": "absent.pdf", **recipient_row()},
        {"main": "a.pdf", **recipient_row(recipient_birth_date="2999-01-01")},
    ]
    letters = tmp_path / "letters.csv"
    columns = sorted({column for row in rows for column in row})
    with letters.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    code, out, err = await lre_send("bulk", *sender_options(amqp_url), str(letters))

    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("row 2: letter ") and "DEPOSITED item number" in lines[0]
    assert lines[1].startswith("row 3: letter ") and "DEPOSITED item number" in lines[1]
    assert lines[2].startswith("row 4: ") and "REFUSED: recipient.email:" in lines[2]
    assert lines[3].startswith("row 5: ") and "NOT SENT:" in lines[3] and "absent.pdf" in lines[3]
    assert lines[4].startswith("row 6: NOT SENT: birth_date:") and "in the future" in lines[4]
    assert lines[5] == "2 deposited, 3 not, of 5 rows"
    assert err.splitlines()[-1] == "letters [" + "#" * 30 + "] 5/5"
    items = {line.rsplit(" ", 1)[1] for line in lines[:2]}
    stored = await served_archive.pool.fetch("SELECT item_number FROM letters")
    assert {row["item_number"] for row in stored} == items


async def test_unknown_csv_columns_are_named_and_nothing_is_sent(
    served_archive: ServedArchive, amqp_url: str, tmp_path: Path
) -> None:
    letters = tmp_path / "letters.csv"
    letters.write_text("main,recipient_surname\na.pdf,Martin\n", encoding="utf-8")

    code, _, err = await lre_send("bulk", *sender_options(amqp_url), str(letters))

    assert code == 2
    assert "unknown columns recipient_surname" in err
    assert await served_archive.pool.fetchval("SELECT count(*) FROM letters") == 0


@asynccontextmanager
async def signer_stand_in(
    amqp_url: str, records: tuple[EvidenceEntry, ...]
) -> AsyncIterator[list[ListEvidence]]:
    """Answers `ListEvidence` as the signer does: on its commands exchange, to the reply queue."""
    asked: list[ListEvidence] = []
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        signer_commands = await declare_exchange(channel, commands_exchange(Service.signer))
        await queue.bind(signer_commands, routing_key=ListEvidence.routing_key)
        # As the signer binds at start: what senders ask it reaches its command exchange.
        await signer_commands.bind(
            await declare_exchange(channel, SENDERS_COMMANDS_EXCHANGE), routing_key=ListEvidence.routing_key
        )

        async def answer(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            query = ListEvidence.model_validate_json(message.body)
            asked.append(query)
            reply = EvidenceListed(correlation_id=query.correlation_id, records=records)
            await channel.default_exchange.publish(
                aio_pika.Message(reply.to_json(), correlation_id=message.correlation_id),
                routing_key=message.reply_to or "",
            )

        await queue.consume(answer, no_ack=True)
        yield asked
    finally:
        await connection.close()


async def test_status_shows_the_state_item_number_and_evidence_list(
    served_archive: ServedArchive, amqp_url: str, tmp_path: Path
) -> None:
    pdf = tmp_path / "lettre.pdf"
    pdf.write_bytes(demo_pdf("Statut " + uuid.uuid4().hex))
    key = f"dossier-{uuid.uuid4().hex[:8]}"
    recipient = tmp_path / "recipient.json"
    recipient.write_text(DEMO_RECIPIENT.model_dump_json(), encoding="utf-8")
    code, out, _ = await lre_send(
        *sender_options(amqp_url), "--recipient-json", str(recipient), "--idempotency-key", key, str(pdf)
    )
    assert code == 0, out  # the one-letter form without a subcommand, as before
    item_number = out.rsplit(" ", 1)[1].strip()
    evidence_id = uuid.uuid4()
    record = EvidenceEntry(
        evidence_id=evidence_id,
        event="SubmissionAcceptance",
        event_time=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        record_sha256="a" * 64,
        previous_sha256=None,
    )

    async with signer_stand_in(amqp_url, (record,)) as asked:
        code, shown, _ = await lre_send("status", *sender_options(amqp_url)[:4], key)
        _, unknown, _ = await lre_send("status", *sender_options(amqp_url)[:4], str(uuid.uuid4()))

    assert code == 0
    assert ": deposited" in shown
    assert f"item number     {item_number}" in shown
    assert "evidence (1 records):" in shown
    assert f"2026-03-02T09:00:00+00:00  SubmissionAcceptance  {evidence_id}" in shown
    letter_id = await served_archive.pool.fetchval(
        "SELECT letter_id FROM letters WHERE item_number = $1", item_number
    )
    assert [q.correlation_id for q in asked] == [letter_id]
    assert "unknown to the archive" in unknown


async def test_status_says_so_when_the_signer_does_not_answer(
    served_archive: ServedArchive, amqp_url: str, tmp_path: Path
) -> None:
    pdf = tmp_path / "lettre.pdf"
    pdf.write_bytes(demo_pdf("Sans signataire " + uuid.uuid4().hex))
    recipient = tmp_path / "recipient.json"
    recipient.write_text(DEMO_RECIPIENT.model_dump_json(), encoding="utf-8")
    _, out, _ = await lre_send(
        "send", *sender_options(amqp_url), "--recipient-json", str(recipient), str(pdf)
    )
    letter_id = out.split()[1]
    options = sender_options(amqp_url)[:4]

    async with signer_stand_in(amqp_url, ()):  # a queue for the command, then no one answers
        pass
    code, shown, _ = await lre_send("status", *options, "--wait", "1", letter_id)

    assert code == 0
    assert ": deposited" in shown
    assert "the signer did not answer in time" in shown


async def test_status_of_a_refused_letter_says_refused_with_its_time(
    served_archive: ServedArchive, amqp_url: str, tmp_path: Path
) -> None:
    pdf = tmp_path / "lettre.pdf"
    pdf.write_bytes(demo_pdf("Refusée " + uuid.uuid4().hex))
    recipient = tmp_path / "recipient.json"
    recipient.write_text(DEMO_RECIPIENT.model_dump_json(), encoding="utf-8")
    _, out, _ = await lre_send(
        "send", *sender_options(amqp_url), "--recipient-json", str(recipient), str(pdf)
    )
    letter_id, item_number = uuid.UUID(out.split()[1]), out.rsplit(" ", 1)[1].strip()
    refused_at = datetime(2026, 3, 4, 16, 30, tzinfo=UTC)
    await publish(
        amqp_url, LetterRefused(correlation_id=letter_id, item_number=item_number, refused_at=refused_at)
    )

    async def recorded() -> bool:
        found = await served_archive.pool.fetchval(
            "SELECT refused_at FROM letters WHERE letter_id = $1", letter_id
        )
        return found is not None

    await eventually(recorded)
    async with signer_stand_in(amqp_url, ()):
        code, shown, _ = await lre_send("status", *sender_options(amqp_url)[:4], str(letter_id))

    assert code == 0
    assert f"letter {letter_id}: refused" in shown
    assert "  refused at      2026-03-04T16:30:00+00:00" in shown
    assert ": deposited" not in shown
