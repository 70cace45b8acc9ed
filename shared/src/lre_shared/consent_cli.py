"""`lre-send consent`: a sender system records its recipients' consent (CPCE L.100).

    lre-send consent record   --sender-id acme --email camille@example.org \\
                              --given-at 2025-01-31T10:00:00+01:00 --channel web_form \\
                              --text-file consentement.txt [--reference form-117]
    lre-send consent withdraw --sender-id acme --email camille@example.org --channel email \\
                              [--withdrawn-at 2025-06-01T09:00:00+02:00]

A letter to a recipient who is not a professional (`recipient.kind` consumer, the default) is
taken only while the sender holds their consent: record it first, with the exact text the
recipient agreed to (kept, with its SHA-256, and sealed as evidence). A withdrawal refuses the
letters deposited after it; those deposited before stand. Channels: web_form, email, paper,
contract, in_person. Exit status 0 when recorded, 1 when refused (every problem by field) or
unanswered.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from lre_shared.clock import now_utc
from lre_shared.contracts import ConsentAnswer
from lre_shared.sender import SenderClient

CHANNELS = ("web_form", "email", "paper", "contract", "in_person")


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value}: give a time zone, e.g. 2025-01-31T10:00:00+01:00")
    return moment


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """`consent record` and `consent withdraw`, with the options every command shares."""
    consent = commands.add_parser("consent", help="record or withdraw a recipient's consent (CPCE L.100)")
    actions = consent.add_subparsers(dest="consent_action", required=True)
    record = actions.add_parser("record", parents=[common], help="the recipient agreed")
    record.add_argument("--email", required=True, help="the recipient's address, as letters will name it")
    record.add_argument("--given-at", type=_moment, required=True, help="when (ISO 8601, with a time zone)")
    record.add_argument("--channel", choices=CHANNELS, required=True, help="how the recipient agreed")
    text = record.add_mutually_exclusive_group(required=True)
    text.add_argument("--text-file", type=Path, help="the exact text agreed to (UTF-8)")
    text.add_argument("--text", help="the exact text agreed to")
    record.add_argument("--reference", help="your own record of it")
    withdraw = actions.add_parser("withdraw", parents=[common], help="the recipient withdrew it")
    withdraw.add_argument("--email", required=True)
    withdraw.add_argument(
        "--withdrawn-at", type=_moment, help="when (ISO 8601, with a time zone; default now)"
    )
    withdraw.add_argument("--channel", choices=CHANNELS, required=True, help="how the recipient withdrew it")


async def run(client: SenderClient, args: argparse.Namespace, out: TextIO) -> int:
    try:
        if args.consent_action == "record":
            text = args.text if args.text is not None else args.text_file.read_text(encoding="utf-8")
            answer = await client.record_consent(
                args.email, given_at=args.given_at, channel=args.channel, text=text, reference=args.reference
            )
        else:
            answer = await client.withdraw_consent(
                args.email, withdrawn_at=args.withdrawn_at or now_utc(), channel=args.channel
            )
    except OSError as exc:
        print(f"not sent: {exc.filename}: {exc.strerror}", file=out)
        return 1
    except TimeoutError:
        print("the archive did not answer in time", file=out)
        return 1
    print(describe(answer, args.consent_action), file=out)
    return 0 if answer.recorded else 1


def describe(answer: ConsentAnswer, action: str) -> str:
    if not answer.recorded:
        return "REFUSED: " + "; ".join(f"{p.field}: {p.reason}" for p in answer.problems)
    what = "consent RECORDED" if action == "record" else "withdrawal RECORDED"
    return (
        f"{what}: consent {answer.consent_id}, text SHA-256 {answer.text_sha256},"
        f" evidence chain {answer.subject_id}"
    )
