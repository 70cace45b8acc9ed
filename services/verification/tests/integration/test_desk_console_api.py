"""What the desk console asks of the API beyond the cases themselves: a checklist checked
against the case's policy without being saved, and a queue that a console polling every few
seconds is told is unchanged (304) until a case moves, with the desk's target time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.integration

# 2026-03-02 is the clock's start (see conftest): these satisfy the cnb policy then.
CNB_CHECKLIST = [
    {"kind": "identity", "document_type": "passport", "number": "19AB12345", "expiry_date": "2031-01-01"},
    {"kind": "company_extract", "document_type": "kbis", "number": "732 829 320"},
    {"kind": "bar_certificate", "document_type": "attestation", "number": "P-1", "issued_on": "2026-01-15"},
]


async def case_with_document(desk: Any, files: Any, policy: str = "default") -> None:
    letter = await desk.deposit(policy)
    await desk.open_with_document(letter, files.pdf)


async def claim(desk: Any) -> Any:
    response = await desk.http.post("/desk/api/cases/claim", headers=desk.auth())
    assert response.status_code == 200, response.text
    return response.json()["case"]


async def test_a_checklist_is_checked_against_the_policy_without_being_saved(desk: Any, files: Any) -> None:
    await case_with_document(desk, files, policy="cnb")
    case = await claim(desk)
    path = f"/desk/api/cases/{case['case_id']}"

    partial = await desk.http.post(
        path + "/checklist/check", json={"items": CNB_CHECKLIST[:1]}, headers=desk.auth()
    )
    complete = await desk.http.post(
        path + "/checklist/check", json={"items": CNB_CHECKLIST}, headers=desk.auth()
    )

    assert partial.status_code == 200, partial.text
    assert partial.json() == {
        # In English, as before, for the UIs that show these sentences.
        "unmet": [
            "a company extract (Kbis) with its SIREN or SIRET number is required",
            "a bar registration certificate issued in 2026 is required",
        ],
        # The same rules as codes and parameters, for a UI to word in its language.
        "unmet_rules": [
            {
                "code": "company_extract",
                "params": {},
                "text": "a company extract (Kbis) with its SIREN or SIRET number is required",
            },
            {
                "code": "bar_certificate",
                "params": {"year": "2026"},
                "text": "a bar registration certificate issued in 2026 is required",
            },
        ],
    }
    assert complete.json() == {"unmet": [], "unmet_rules": []}
    detail = (await desk.http.get(path, headers=desk.auth())).json()
    assert detail["checklist"] == []  # nothing saved
    assert [(rule["code"], rule["params"]) for rule in detail["unmet_rules"]] == [
        ("identity_after", {"date": "2026-09-02"}),
        ("company_extract", {}),
        ("bar_certificate", {"year": "2026"}),
    ]
    assert detail["unmet"] == [rule["text"] for rule in detail["unmet_rules"]]
    audit = (await desk.http.get(path + "/audit", headers=desk.auth())).json()["events"]
    assert "checklist_saved" not in [event["action"] for event in audit]


async def test_a_checklist_check_of_an_unknown_case_is_404(desk: Any) -> None:
    response = await desk.http.post(
        "/desk/api/cases/00000000-0000-4000-8000-000000000000/checklist/check",
        json={"items": CNB_CHECKLIST},
        headers=desk.auth(),
    )
    assert response.status_code == 404


async def test_the_queue_is_answered_304_while_only_the_ages_change(desk: Any, files: Any) -> None:
    await case_with_document(desk, files)
    first = await desk.http.get("/desk/api/cases", headers=desk.auth())
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    assert first.json()["target_minutes"] == 30

    desk.clock.advance(timedelta(minutes=5))
    unchanged = await desk.http.get("/desk/api/cases", headers=desk.auth() | {"if-none-match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""

    await claim(desk)  # the case moves to in_review
    moved = await desk.http.get("/desk/api/cases", headers=desk.auth() | {"if-none-match": etag})
    assert moved.status_code == 200
    assert moved.headers["etag"] != etag
    [case] = moved.json()["cases"]
    assert case["state"] == "in_review"


async def test_the_target_time_is_a_setting(start_desk: Any) -> None:
    async with start_desk(desk_target_minutes=7) as desk:
        response = await desk.http.get("/desk/api/cases", headers=desk.auth())
    assert response.json()["target_minutes"] == 7
