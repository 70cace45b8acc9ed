"""The desk's HTTP API with careless and hostile text: documents named in any script open
with their name (RFC 6266 / RFC 5987), and text an agent sends that no service could keep
or show as it is (a NUL, a control or bidirectional character, a lone surrogate) is
answered 422 naming the field, never 500, with nothing saved."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import aiosmtplib
import pytest

from lre_shared.contracts import DocumentChannel

pytestmark = pytest.mark.integration


async def claimed_case(desk: Any, files: Any, filename: str = "cni.pdf") -> tuple[Any, str]:
    """A case whose document came by email, claimed by alice."""
    letter = await desk.deposit()
    opened = await desk.open_case(letter, DocumentChannel.email, code_channel="sms")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "camille@exemple.example", DESK, opened.reference
    message.set_content("ci-joint")
    message.add_attachment(files.jpeg, maintype="image", subtype="jpeg", filename=filename)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=desk.desk.smtp.port, start_tls=False) as client:
        await client.send_message(message)
    claimed = await desk.http.post("/desk/api/cases/claim", headers=desk.auth())
    assert claimed.json()["case"]["case_id"] == str(opened.case_id), claimed.text
    return opened, f"/desk/api/cases/{opened.case_id}"


DESK = "identite@desk.example"


@pytest.mark.parametrize(
    ("sent", "fallback"),
    [("паспорт.jpg", "_______.jpg"), ("pièce identité.jpg", "piece identite.jpg")],
)
async def test_a_document_named_in_any_script_opens_with_its_name(
    desk: Any, files: Any, sent: str, fallback: str
) -> None:
    _, path = await claimed_case(desk, files, filename=sent)
    [document] = (await desk.http.get(path + "/documents", headers=desk.auth())).json()["documents"]

    shown = await desk.http.get(document["url"])

    assert shown.status_code == 200 and shown.content == files.jpeg
    disposition = shown.headers["content-disposition"]
    assert disposition == f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(sent)}"
    assert document["filename"] == sent


BAD_TEXT = {
    "NUL": "19AB\x0012345",
    "escape": "19AB\x1b[2J",
    "right-to-left override": "19AB\u202e54321",
}


def checklist_with(field: str, value: str) -> dict[str, Any]:
    item = {
        "kind": "identity",
        "document_type": "passport",
        "number": "19AB12345",
        "expiry_date": "2031-01-01",
    }
    return {"items": [{**item, field: value}]}


@pytest.mark.parametrize("bad", BAD_TEXT.values(), ids=BAD_TEXT.keys())
@pytest.mark.parametrize(
    ("method", "where", "body", "field"),
    [
        ("PUT", "/checklist", lambda v: checklist_with("number", v), "items.0.number"),
        ("PUT", "/checklist", lambda v: checklist_with("document_type", v), "items.0.document_type"),
        ("POST", "/decision", lambda v: {"outcome": "rejected", "reason": v}, "reason"),
        (
            "POST",
            "/callbacks",
            lambda v: {"number": "+33142000000", "called_at": "2026-03-02T09:05:00Z", "outcome": v},
            "outcome",
        ),
    ],
    ids=["checklist-number", "checklist-type", "decision-reason", "callback-outcome"],
)
async def test_text_no_service_could_keep_is_answered_422_naming_the_field(
    desk: Any, files: Any, method: str, where: str, body: Any, field: str, bad: str
) -> None:
    opened, path = await claimed_case(desk, files)

    response = await desk.http.request(method, path + where, json=body(bad), headers=desk.auth())

    assert response.status_code == 422, response.text
    assert field in response.json()["errors"], response.text
    case = await desk.pool.fetchrow(
        "SELECT state, checklist, reason FROM cases WHERE case_id = $1", opened.case_id
    )
    assert (case["state"], json.loads(case["checklist"]), case["reason"]) == ("in_review", [], None)
    assert await desk.pool.fetchval("SELECT count(*) FROM callbacks") == 0


async def test_a_lone_surrogate_or_a_nul_in_a_key_is_refused_without_being_repeated(
    desk: Any, files: Any
) -> None:
    _, path = await claimed_case(desk, files)

    surrogate = await desk.http.post(
        path + "/decision",
        content=b'{"outcome": "rejected", "reason": "verso \\ud800"}',
        headers={**desk.auth(), "content-type": "application/json"},
    )
    key = await desk.http.post(
        path + "/decision", json={"outcome": "rejected", "reason": "x", "\x00\u202e": 1}, headers=desk.auth()
    )

    assert (surrogate.status_code, key.status_code) == (422, 422)
    errors = key.json()["errors"]
    texts = [text for field, problems in errors.items() for text in (field, *problems)]
    assert all(text.isascii() and text.isprintable() for text in texts)


async def test_notes_may_run_over_several_lines(desk: Any, files: Any) -> None:
    _, path = await claimed_case(desk, files)
    callback = {
        "number": "+33142000000",
        "called_at": "2026-03-02T09:05:00Z",
        "outcome": "Me Martin\r\nconfirme",
    }

    logged = await desk.http.post(path + "/callbacks", json=callback, headers=desk.auth())
    decided = await desk.http.post(
        path + "/decision",
        json={"outcome": "more_documents", "reason": "le verso\n\tde la carte"},
        headers=desk.auth(),
    )

    assert (logged.status_code, decided.status_code) == (200, 200), (logged.text, decided.text)
    assert decided.json()["reason"] == "le verso\n\tde la carte"


async def test_a_document_link_of_any_shape_is_refused_not_failed(desk: Any) -> None:
    for token in ("%00", "%C3%A9t%C3%A9", "%ED%A0%80", "A" * 5000):
        response = await desk.http.get("/desk/documents/" + token)
        assert response.status_code == 403, (token, response.text)
