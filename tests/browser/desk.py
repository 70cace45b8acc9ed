"""The verification desk's side of the one-time-code path, through its JSON API, with an
agent's token signed by the platform's local key (as `lre-desk-token` signs them)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx

from tests.support.running import RunningPlatform
from verification.entrypoints.desk_token import issue_token

# What an agent notes from a valid identity document (the default policy asks for one).
PASSPORT = {
    "kind": "identity",
    "document_type": "passport",
    "number": "19AB12345",
    "expiry_date": "2036-01-01",
}


def desk_client(platform: RunningPlatform) -> httpx.AsyncClient:
    keys = Path(tempfile.gettempdir()) / f"lre-desk-{platform.config.database_prefix}"
    token = issue_token(keys, "agent-browser-tests", ["agent"], minutes=10)
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{platform.config.ports['verification']}/desk/api",
        headers={"authorization": f"Bearer {token}"},
        timeout=30.0,
    )


async def approve_next_case(platform: RunningPlatform, item_number: str) -> dict[str, Any]:
    """Claim the next waiting case (it must be `item_number`'s), note the passport, approve."""
    async with desk_client(platform) as desk:
        claimed = await desk.post("/cases/claim")
        assert claimed.status_code == 200, claimed.text
        case: dict[str, Any] = claimed.json()["case"]
        assert case is not None, "no case waits at the desk"
        assert case["item_number"] == item_number, case
        path = f"/cases/{case['case_id']}"
        documents = await desk.get(path + "/documents")
        assert documents.status_code == 200, documents.text
        assert documents.json()["documents"], "the uploaded identity document did not reach the desk"
        saved = await desk.put(path + "/checklist", json={"items": [PASSPORT]})
        assert saved.status_code == 200, saved.text
        decided = await desk.post(path + "/decision", json={"outcome": "approved", "reason": None})
        assert decided.status_code == 200, decided.text
        return case
