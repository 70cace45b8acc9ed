"""The documents generated from code (AsyncAPI, OpenAPI, the settings tables of
docs/OPERATIONS.md, the message schemas) are committed; a change to the code they come
from fails here until `make docs` regenerates them and the change is reviewed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from docs import generate
from lre_shared.topology import Service


def test_every_generated_document_matches_its_committed_copy() -> None:
    stale = [str(path.relative_to(generate.DOCS.parent)) for path in generate.stale()]
    assert not stale, f"stale generated documents, run `make docs` and review: {stale}"


def test_a_stale_document_is_caught(tmp_path: Path) -> None:
    shutil.copy(generate.DOCS / "OPERATIONS.md", tmp_path / "OPERATIONS.md")
    generate.write_all(tmp_path)
    assert generate.stale(tmp_path) == []
    stale = tmp_path / "asyncapi" / "signer.json"
    stale.write_text(stale.read_text().replace("signer.letter.deposited.v1", "signer.letter.deposited.v0"))
    assert generate.stale(tmp_path) == [stale]


def test_each_service_has_its_asyncapi_and_openapi_description() -> None:
    for service in Service:
        for kind in ("asyncapi", "openapi"):
            assert (generate.DOCS / kind / f"{service}.json").exists(), f"no {kind} document for {service}"


def test_the_asyncapi_document_names_each_queue_the_service_consumes() -> None:
    signer = json.loads((generate.DOCS / "asyncapi" / "signer.json").read_text())
    assert "signer.letter.deposited.v1" in signer["channels"]
    payloads = signer["components"]["schemas"].values()
    assert {"$ref": "../contracts/letter.deposited.v1.schema.json"}.items() <= next(
        p for p in payloads if p.get("x-routing-key") == "letter.deposited.v1"
    ).items()


def test_the_operations_guide_documents_every_setting_with_its_prefix() -> None:
    text = (generate.DOCS / "OPERATIONS.md").read_text()
    for variable in (
        "SIGNER_SEAL_KEY_FILE",
        "PICKUP_SESSION_SECRET",
        "ARCHIVE_AMQP_URL",
        "NOTIFIER_SMTP_HOST",
    ):
        assert f"`{variable}`" in text
