"""A supervisor's lift of a letter's lock is evidence: the signer records `LetterLockLifted`
in the letter's hash chain, under the platform's own event URI (ETSI EN 319 522 has none),
with who lifted it, why, and the hold that was lifted."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lre_shared.contracts import LetterLockLifted, LockKind, now_utc
from lre_shared.runtime import ServiceRuntime
from services.signer.tests.integration.test_signer_chain import (
    assert_unbroken_chain,
    deposited,
    probe,
    signer,
    wait_for_records,
)
from tests.support.bus import Probe, publish

pytestmark = pytest.mark.integration

__all__ = ["probe", "signer"]


async def test_a_lifted_lock_becomes_an_evidence_record_with_the_supervisor_and_reason(
    signer: ServiceRuntime, probe: Probe, amqp_url: str
) -> None:
    letter = deposited()
    await publish(amqp_url, letter)
    await wait_for_records(signer.pool, letter.correlation_id, 1)
    lifted_at = now_utc()
    lift = LetterLockLifted(
        correlation_id=letter.correlation_id,
        item_number=letter.item_number,
        kinds=(LockKind.identity,),
        supervisor="carol",
        reason="the recipient called; identity checked by phone",
        lifted_at=lifted_at,
        locked_until=lifted_at + timedelta(minutes=15),
    )
    await publish(amqp_url, lift)

    chain = await wait_for_records(signer.pool, letter.correlation_id, 2)
    record = json.loads(bytes(chain[-1]["record"]))

    assert_unbroken_chain(chain)
    assert chain[-1]["event"] == "LetterLockLifted"
    assert chain[-1]["source_message_id"] == lift.message_id
    assert record["event_uri"] == "urn:lre:evidence-event:LetterLockLifted"
    assert record["details"] == {
        "kinds": ["identity"],
        "supervisor": "carol",
        "reason": "the recipient called; identity checked by phone",
        "locked_until": (lifted_at + timedelta(minutes=15)).isoformat(),
    }
    await probe.wait_for("evidence.recorded.v1", letter.correlation_id)
