"""`lre-senders consent`: a sender system's consent registry (CPCE L.100), for the operator.

    lre-senders consent list acme [--email camille@example.org] [--no-evidence]

Lists the sender's consent history, oldest first (of one address, matched as deposits match
it: NFKC, case-folded), each entry with when and how it was given, the SHA-256 of the text
agreed to, its withdrawal if any, and whether it is current; then, for each address, the
sealed evidence records the signer holds for it (asked over the bus, as the archive's broker
user: that user must be among `SIGNER_TRUSTED_PUBLISHERS` for the signer to answer). The
command reads the archive's settings (`ARCHIVE_*`), as the service does.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from archive.adapters.postgres import units_of_work
from archive.domain.consent import Consent, consent_subject
from archive.entrypoints.admin_database import archive_database
from archive.service_layer.consents import consent_history
from archive.settings import ArchiveSettings
from lre_shared.bus import ask, broker_user, make_broker
from lre_shared.contracts import EvidenceListed, ListEvidence
from lre_shared.topology import Service

EVIDENCE_WAIT_SECONDS = 10.0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """`consent list`; sets `run` to an async function of the arguments returning the exit code."""
    consent = commands.add_parser("consent", help="a sender's consent registry (CPCE L.100)")
    actions = consent.add_subparsers(dest="consent_action", required=True)
    listing = actions.add_parser("list", help="the consent history, with its evidence")
    listing.add_argument("sender", help="the sender id")
    listing.add_argument("--email", help="one recipient address only")
    listing.add_argument("--no-evidence", action="store_true", help="do not ask the signer for the records")
    listing.set_defaults(run=list_consents)


async def list_consents(arguments: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    async with archive_database() as (settings, pool), units_of_work(lambda: pool)() as uow:
        history = await consent_history(uow, arguments.sender, arguments.email)
    if not history:
        whom = f" for {arguments.email}" if arguments.email else ""
        print(f"{arguments.sender}: no consent recorded{whom}", file=out)
        return 1
    for entry in history:
        print(entry_text(entry, is_latest=entry is _latest(history, entry)), file=out)
    if not arguments.no_evidence:
        await print_evidence(settings, history, out)
    return 0


def _latest(history: list[Consent], entry: Consent) -> Consent:
    return [c for c in history if c.email_key == entry.email_key][-1]


def entry_text(entry: Consent, *, is_latest: bool) -> str:
    state = "CURRENT" if is_latest and entry.current else "withdrawn" if entry.withdrawn_at else "superseded"
    lines = [
        f"{entry.email}  consent {entry.consent_id}  {state}",
        f"  given at        {entry.given_at.isoformat()} ({entry.channel})",
        f"  recorded at     {entry.recorded_at.isoformat()}",
        f"  text SHA-256    {entry.text_sha256}",
    ]
    if entry.reference:
        lines.append(f"  reference       {entry.reference}")
    if entry.withdrawn_at is not None and entry.withdrawal_recorded_at is not None:
        lines.append(f"  withdrawn at    {entry.withdrawn_at.isoformat()} ({entry.withdrawal_channel})")
        lines.append(f"  recorded at     {entry.withdrawal_recorded_at.isoformat()}")
    return "\n".join(lines)


async def print_evidence(settings: ArchiveSettings, history: list[Consent], out: TextIO) -> None:
    """Each address's evidence chain as the signer lists it."""
    broker = make_broker(settings, Service.archive)
    await broker.connect()
    try:
        for key in dict.fromkeys(c.email_key for c in history):
            subject = consent_subject(history[0].sender_id, key)
            query = ListEvidence(correlation_id=subject, sender_id=history[0].sender_id)
            try:
                listed = await ask(
                    broker,
                    query,
                    EvidenceListed,
                    timeout=EVIDENCE_WAIT_SECONDS,
                    user_id=broker_user(settings.amqp_url.get_secret_value()),
                )
            except TimeoutError:
                print(f"evidence of {key} (chain {subject}): the signer did not answer", file=out)
                continue
            print(f"evidence of {key} (chain {subject}): {len(listed.records)} sealed records", file=out)
            for record in listed.records:
                print(
                    f"  {record.event_time.isoformat()}  {record.event}  {record.evidence_id}"
                    f"  SHA-256 {record.record_sha256}",
                    file=out,
                )
    finally:
        await broker.stop()
