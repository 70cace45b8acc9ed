"""The support desk through its JSON API, on the real parts: claiming (many agents at once
never share a case), the policy checklist gating approval, decisions published through the
outbox (and the code sent on approval), callbacks, the audit trail, triage, short-lived
document links, and the deletion of documents after the retention delay."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from lre_shared.contracts import (
    AddIdentityDocument,
    IdentityDocumentAdded,
)

pytestmark = pytest.mark.integration

# 2026-03-02 is the clock's start (see conftest): these satisfy the cnb policy then.
CNB_CHECKLIST = [
    {"kind": "identity", "document_type": "passport", "number": "19AB12345", "expiry_date": "2031-01-01"},
    {"kind": "company_extract", "document_type": "kbis", "number": "732 829 320"},
    {
        "kind": "bar_certificate",
        "document_type": "attestation",
        "number": "P-1234",
        "issued_on": "2026-01-15",
    },
]


async def case_with_document(desk: Any, files: Any, policy: str = "default") -> tuple[Any, uuid.UUID]:
    letter = await desk.deposit(policy)
    return letter, await desk.open_with_document(letter, files.pdf)


async def claim(desk: Any, agent: str = "alice") -> Any:
    response = await desk.http.post("/desk/api/cases/claim", headers=desk.auth(agent))
    assert response.status_code == 200, response.text
    return response.json()["case"]


async def outbox(desk: Any, routing_key: str) -> list[dict[str, Any]]:
    rows = await desk.pool.fetch("SELECT body FROM outbox WHERE routing_key = $1 ORDER BY id", routing_key)
    return [json.loads(bytes(row["body"])) for row in rows]


# --------------------------------------------------------------------------- claiming


async def test_twenty_agents_claiming_at_once_over_ten_cases_never_share_one(desk: Any, files: Any) -> None:
    cases = {(await case_with_document(desk, files))[1] for _ in range(10)}
    agents = [f"agent-{n}" for n in range(20)]

    claimed = await asyncio.gather(*(claim(desk, agent) for agent in agents))

    got = [uuid.UUID(c["case_id"]) for c in claimed if c is not None]
    assert sorted(got) == sorted(cases)  # every case claimed once, by one agent
    assert sum(c is None for c in claimed) == 10
    holders = await desk.pool.fetch("SELECT claimed_by FROM cases WHERE state = 'in_review'")
    assert len({row["claimed_by"] for row in holders}) == 10


async def test_a_case_held_too_long_without_a_decision_goes_to_another_agent(desk: Any, files: Any) -> None:
    _, case_id = await case_with_document(desk, files)
    await claim(desk, "alice")
    desk.clock.advance(timedelta(minutes=29))
    too_early = await claim(desk, "bob")
    desk.clock.advance(timedelta(minutes=2))

    taken = await claim(desk, "bob")
    alice = await desk.http.post(
        f"/desk/api/cases/{case_id}/decision", json={"outcome": "approved"}, headers=desk.auth("alice")
    )

    assert too_early is None
    assert (taken["case_id"], taken["claimed_by"]) == (str(case_id), "bob")
    assert alice.status_code == 403


async def test_the_queue_and_its_oldest_wait_are_measured_for_prometheus(desk: Any, files: Any) -> None:
    from prometheus_client import REGISTRY

    from verification.adapters import gauges

    await case_with_document(desk, files)
    await case_with_document(desk, files)
    await claim(desk)
    desk.clock.advance(timedelta(minutes=12))

    await gauges.measure(desk.pool, desk.clock())

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert sample("lre_verification_cases", state="pending", policy="default") == 1
    assert sample("lre_verification_cases", state="in_review", policy="default") == 1
    assert sample("lre_verification_oldest_waiting_seconds") == 720
    assert sample("lre_verification_triage_entries") == 0


async def test_the_queue_lists_open_cases_with_their_age(desk: Any, files: Any) -> None:
    _, case_id = await case_with_document(desk, files)
    desk.clock.advance(timedelta(minutes=30))

    response = await desk.http.get("/desk/api/cases", headers=desk.auth())

    [case] = response.json()["cases"]
    assert (case["case_id"], case["state"], case["age_seconds"]) == (str(case_id), "pending", 1800)


async def test_only_the_agent_holding_a_case_decides_it(desk: Any, files: Any) -> None:
    await case_with_document(desk, files)
    case = await claim(desk, "alice")

    response = await desk.http.post(
        f"/desk/api/cases/{case['case_id']}/decision",
        json={"outcome": "rejected", "reason": "blurred"},
        headers=desk.auth("bob"),
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "another agent holds this case"


# ------------------------------------------------------------------ policy and decisions


async def test_approval_is_refused_while_the_checklist_does_not_satisfy_the_policy(
    desk: Any, files: Any
) -> None:
    await case_with_document(desk, files, policy="cnb")
    case = await claim(desk)
    path = f"/desk/api/cases/{case['case_id']}"
    await desk.http.put(path + "/checklist", json={"items": CNB_CHECKLIST[:1]}, headers=desk.auth())

    response = await desk.http.post(path + "/decision", json={"outcome": "approved"}, headers=desk.auth())

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "the checklist does not satisfy the cnb policy"
    assert body["problems"] == [
        "a company extract (Kbis) with its SIREN or SIRET number is required",
        "a bar registration certificate issued in 2026 is required",
    ]
    assert [(rule["code"], rule["params"]) for rule in body["unmet_rules"]] == [
        ("company_extract", {}),
        ("bar_certificate", {"year": "2026"}),
    ]
    assert [rule["text"] for rule in body["unmet_rules"]] == body["problems"]
    assert await outbox(desk, "verification.decided.v1") == []


async def test_an_approval_publishes_the_decision_and_sends_a_code(desk: Any, files: Any) -> None:
    letter, _ = await case_with_document(desk, files, policy="cnb")
    case = await claim(desk)
    path = f"/desk/api/cases/{case['case_id']}"
    saved = await desk.http.put(path + "/checklist", json={"items": CNB_CHECKLIST}, headers=desk.auth())
    assert saved.json() == {"unmet": [], "unmet_rules": []}

    response = await desk.http.post(path + "/decision", json={"outcome": "approved"}, headers=desk.auth())

    assert response.status_code == 200, response.text
    [decided] = await outbox(desk, "verification.decided.v1")
    assert (decided["case_id"], decided["outcome"], decided["correlation_id"]) == (
        case["case_id"],
        "approved",
        str(letter.correlation_id),
    )
    [code] = await desk.pool.fetch(
        "SELECT channel, address FROM codes WHERE case_id = $1", uuid.UUID(case["case_id"])
    )
    assert (code["channel"], code["address"]) == ("sms", "+33612345678")
    assert len(await outbox(desk, "send_code.v1")) == 1


async def test_a_rejection_needs_a_reason_and_keeps_it(desk: Any, files: Any) -> None:
    await case_with_document(desk, files)
    case = await claim(desk)
    path = f"/desk/api/cases/{case['case_id']}/decision"

    without = await desk.http.post(path, json={"outcome": "rejected"}, headers=desk.auth())
    rejected = await desk.http.post(
        path, json={"outcome": "rejected", "reason": "photo unreadable"}, headers=desk.auth()
    )

    assert without.status_code == 400
    assert rejected.json()["state"] == "rejected"
    [decided] = await outbox(desk, "verification.decided.v1")
    assert (decided["outcome"], decided["reason"]) == ("rejected", "photo unreadable")
    assert await outbox(desk, "send_code.v1") == []


async def test_after_a_rejection_the_recipient_may_open_a_new_case(desk: Any, files: Any) -> None:
    letter, case_id = await case_with_document(desk, files)
    await claim(desk)
    await desk.http.post(
        f"/desk/api/cases/{case_id}/decision",
        json={"outcome": "rejected", "reason": "expired"},
        headers=desk.auth(),
    )

    again = await desk.open_case(letter, code_channel="sms")

    assert again.case_id is not None and again.case_id != case_id
    assert again.state is not None and again.state.value == "awaiting_documents"


async def test_asking_for_more_documents_reopens_the_case_until_one_arrives(desk: Any, files: Any) -> None:
    letter, case_id = await case_with_document(desk, files)
    await claim(desk)

    asked = await desk.http.post(
        f"/desk/api/cases/{case_id}/decision",
        json={"outcome": "more_documents", "reason": "le verso de la carte"},
        headers=desk.auth(),
    )
    added = await desk.ask(
        AddIdentityDocument(
            correlation_id=letter.correlation_id, case_id=case_id, filename="verso.png", content=files.png
        ),
        IdentityDocumentAdded,
    )

    assert asked.json()["state"] == "more_documents"
    assert added.state is not None and added.state.value == "pending"
    assert (await claim(desk, "bob"))["case_id"] == str(case_id)


# ------------------------------------------------------------------ callbacks and audit


async def test_a_callback_and_every_step_are_in_the_case_audit_trail(desk: Any, files: Any) -> None:
    _, case_id = await case_with_document(desk, files)
    await claim(desk)
    path = f"/desk/api/cases/{case_id}"
    callback = {
        "number": "+33142000000",
        "called_at": "2026-03-02T09:05:00+01:00",
        "outcome": "confirmed by Me Martin",
    }
    logged = await desk.http.post(path + "/callbacks", json=callback, headers=desk.auth())
    await desk.http.post(
        path + "/decision", json={"outcome": "rejected", "reason": "no match"}, headers=desk.auth()
    )

    trail = await desk.http.get(path + "/audit", headers=desk.auth())
    stranger = await desk.http.get(path + "/audit", headers=desk.auth("carol"))
    supervisor = await desk.http.get(path + "/audit", headers=desk.auth("dave", ("supervisor",)))
    detail = await desk.http.get(path, headers=desk.auth("carol"))

    assert logged.status_code == 200
    actions = [event["action"] for event in trail.json()["events"]]
    assert actions == ["opened", "document_added", "claimed", "callback", "rejected"]
    assert trail.json()["events"][3]["detail"]["outcome"] == "confirmed by Me Martin"
    assert stranger.status_code == 403
    assert supervisor.json() == trail.json()
    assert detail.json()["callbacks"][0]["number"] == "+33142000000"
    assert detail.json()["recipient"]["recipient_landline"] == "+33142000000"


async def test_a_case_shows_the_recipients_birth_date_only_when_the_sender_declared_one(desk: Any) -> None:
    declared = await desk.deposit(birth_date=date(1980, 5, 17))
    undeclared = await desk.deposit()
    with_date = await desk.open_case(declared)
    without = await desk.open_case(undeclared)

    shown = await desk.http.get(f"/desk/api/cases/{with_date.case_id}", headers=desk.auth())
    omitted = await desk.http.get(f"/desk/api/cases/{without.case_id}", headers=desk.auth())

    assert shown.status_code == omitted.status_code == 200, (shown.text, omitted.text)
    assert shown.json()["recipient"] == {
        "recipient_name": "Camille Martin",
        "recipient_company": "Société Exemple SAS",
        "recipient_landline": "+33142000000",
        "recipient_birth_date": "1980-05-17",
    }
    assert "recipient_birth_date" not in omitted.json()["recipient"]
    assert omitted.json()["recipient"]["recipient_name"] == "Camille Martin"


async def test_the_audit_trail_cannot_be_rewritten(desk: Any, files: Any) -> None:
    _, case_id = await case_with_document(desk, files)

    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await desk.pool.execute("UPDATE case_events SET actor = 'nobody' WHERE case_id = $1", case_id)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await desk.pool.execute("DELETE FROM case_events WHERE case_id = $1", case_id)


# ------------------------------------------------------------------------------ triage


async def test_a_supervisor_files_a_triage_entry_under_its_case(desk: Any, files: Any) -> None:
    _, case_id = await case_with_document(desk, files)
    await desk.pool.execute("UPDATE cases SET state = 'more_documents' WHERE case_id = $1", case_id)
    from verification.service_layer.cases import Attachment, InboundMessage, receive

    outcome = await receive(
        desk.desk.api.transactions,
        desk.desk.vault,
        InboundMessage(
            "email", "camille@exemple.example", "papiers", "sans référence", [Attachment("a.png", files.png)]
        ),
        max_bytes=65536,
        now=desk.clock(),
    )
    listed = await desk.http.get("/desk/api/triage", headers=desk.auth())

    assigned = await desk.http.post(
        f"/desk/api/triage/{outcome.triage_id}/assign",
        json={"case_id": str(case_id)},
        headers=desk.auth("sue", ("supervisor",)),
    )

    assert [entry["triage_id"] for entry in listed.json()["entries"]] == [str(outcome.triage_id)]
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["state"] == "pending"
    count = await desk.pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case_id)
    assert count == 2


# ------------------------------------------------------------- documents and retention


async def document_link(desk: Any, case_id: uuid.UUID) -> str:
    response = await desk.http.get(f"/desk/api/cases/{case_id}/documents", headers=desk.auth())
    [document] = response.json()["documents"]
    return str(document["url"])


async def test_a_document_link_shows_the_document_briefly_and_only_unaltered(desk: Any, files: Any) -> None:
    _, case_id = await case_with_document(desk, files)
    url = await document_link(desk, case_id)

    shown = await desk.http.get(url)
    tampered = await desk.http.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB"))
    desk.clock.advance(timedelta(seconds=121))
    expired = await desk.http.get(url)

    assert shown.status_code == 200
    assert shown.content == files.pdf
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["cache-control"] == "no-store"
    assert (tampered.status_code, expired.status_code) == (403, 403)


async def test_documents_are_deleted_after_the_retention_delay_while_the_decision_stays(
    desk: Any, files: Any
) -> None:
    from verification.service_layer.retention import sweep

    _, case_id = await case_with_document(desk, files, policy="cnb")
    await claim(desk)
    path = f"/desk/api/cases/{case_id}"
    await desk.http.put(path + "/checklist", json={"items": CNB_CHECKLIST}, headers=desk.auth())
    await desk.http.post(path + "/decision", json={"outcome": "approved"}, headers=desk.auth())
    [document] = await desk.pool.fetch(
        "SELECT document_id, object_key FROM documents WHERE case_id = $1", case_id
    )
    retention = timedelta(days=7)

    desk.clock.advance(retention - timedelta(minutes=1))
    early = await sweep(desk.desk.api.transactions, desk.desk.vault, retention=retention, now=desk.clock())
    kept = await desk.desk.vault.exists(document["object_key"])
    desk.clock.advance(timedelta(minutes=2))
    swept = await sweep(desk.desk.api.transactions, desk.desk.vault, retention=retention, now=desk.clock())
    again = await sweep(desk.desk.api.transactions, desk.desk.vault, retention=retention, now=desk.clock())

    assert (early, kept, swept, again) == (0, True, 1, 0)
    assert not await desk.desk.vault.exists(document["object_key"])
    case = await desk.http.get(path, headers=desk.auth("dave", ("supervisor",)))
    assert case.json()["decision"] == "approved"
    assert case.json()["checklist"] == [
        {**item, "expiry_date": item.get("expiry_date"), "issued_on": item.get("issued_on")}
        for item in CNB_CHECKLIST
    ]
    assert case.json()["documents"][0]["deleted_at"] is not None
    listed = await desk.http.get(path + "/documents", headers=desk.auth())
    assert "url" not in listed.json()["documents"][0]
    audit = await desk.http.get(path + "/audit", headers=desk.auth("dave", ("supervisor",)))
    assert [e["action"] for e in audit.json()["events"]][-2:] == ["document_deleted", "documents_shown"]


async def test_documents_of_a_case_never_decided_are_deleted_after_the_longest_delay(
    desk: Any, files: Any
) -> None:
    from verification.service_layer.retention import sweep

    _, case_id = await case_with_document(desk, files)
    [key] = await desk.pool.fetch("SELECT object_key FROM documents WHERE case_id = $1", case_id)
    limits = {"retention": timedelta(days=7), "longest": timedelta(days=30)}

    desk.clock.advance(timedelta(days=29))
    early = await sweep(desk.desk.api.transactions, desk.desk.vault, now=desk.clock(), **limits)
    desk.clock.advance(timedelta(days=2))
    late = await sweep(desk.desk.api.transactions, desk.desk.vault, now=desk.clock(), **limits)

    assert (early, late) == (0, 1)
    assert not await desk.desk.vault.exists(key["object_key"])
    assert await desk.pool.fetchval("SELECT state FROM cases WHERE case_id = $1", case_id) == "pending"


async def test_two_sweeps_at_once_delete_a_document_once_in_the_audit_trail(desk: Any, files: Any) -> None:
    from verification.service_layer.retention import sweep

    _, case_id = await case_with_document(desk, files)
    desk.clock.advance(timedelta(days=31))
    limits = {"retention": timedelta(days=7), "longest": timedelta(days=30)}

    # Two replicas' sweepers, the same document due for both.
    await asyncio.gather(
        *(sweep(desk.desk.api.transactions, desk.desk.vault, now=desk.clock(), **limits) for _ in range(2))
    )

    deleted = await desk.pool.fetchval(
        "SELECT count(*) FROM case_events WHERE case_id = $1 AND action = 'document_deleted'", case_id
    )
    assert deleted == 1
    assert (
        await desk.pool.fetchval(
            "SELECT count(*) FROM documents WHERE case_id = $1 AND deleted_at IS NOT NULL", case_id
        )
        == 1
    )


async def test_the_api_describes_itself_in_openapi(desk: Any) -> None:
    response = await desk.http.get("/desk/api/openapi.json", headers=desk.auth())

    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert "/desk/api/cases/{case_id}/decision" in document["paths"]
    assert "DecisionBody" in document["components"]["schemas"]
    decision = document["paths"]["/desk/api/cases/{case_id}/decision"]["post"]
    assert decision["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Decided")
    assert decision["x-required-role"] == "agent"


async def test_every_answer_matches_the_schema_its_openapi_description_gives(desk: Any, files: Any) -> None:
    from verification.entrypoints import schemas
    from verification.service_layer.cases import Attachment, InboundMessage, receive

    _, case_id = await case_with_document(desk, files)
    unmatched = await receive(
        desk.desk.api.transactions,
        desk.desk.vault,
        InboundMessage("mms", "+33612345678", "", "papiers", [Attachment("a.png", files.png)]),
        max_bytes=65536,
        now=desk.clock(),
    )
    case = f"/desk/api/cases/{case_id}"
    supervisor = desk.auth("sue", ("supervisor",))
    callback = {"number": "+33142000000", "called_at": "2026-03-02T09:05:00Z", "outcome": "no answer"}
    calls: list[tuple[type[Any], str, str, Any]] = [
        (schemas.CaseList, "GET", "/desk/api/cases", None),
        (schemas.Claimed, "POST", "/desk/api/cases/claim", None),
        (schemas.CaseDetail, "GET", case, None),
        (schemas.DocumentList, "GET", case + "/documents", None),
        (schemas.ChecklistSaved, "PUT", case + "/checklist", {"items": CNB_CHECKLIST[:1]}),
        (schemas.CallbackLogged, "POST", case + "/callbacks", callback),
        (schemas.Decided, "POST", case + "/decision", {"outcome": "more_documents", "reason": "verso"}),
        (schemas.AuditTrail, "GET", case + "/audit", None),
        (schemas.TriageList, "GET", "/desk/api/triage", None),
        (
            schemas.Assigned,
            "POST",
            f"/desk/api/triage/{unmatched.triage_id}/assign",
            {"case_id": str(case_id)},
        ),
        (schemas.Problem, "POST", case + "/decision", {"outcome": "approved"}),
    ]

    for model, method, path, body in calls:
        response = await desk.http.request(method, path, json=body, headers=supervisor)
        model.model_validate(response.json(), strict=False)
        assert (response.status_code < 400) == (model is not schemas.Problem), (path, response.text)
