"""Which documents the sender client embeds, and which it uploads first."""

from __future__ import annotations

import uuid
from pathlib import Path

from lre_shared.sender import EMBED_UP_TO, EMBEDDED_LIMIT, SenderClient


class Recording(SenderClient):
    def __init__(self) -> None:
        super().__init__("amqp://unused", "acme")
        self.uploaded: list[str] = []

    async def upload(self, filename: str, content: bytes, letter_id: uuid.UUID) -> uuid.UUID:
        self.uploaded.append(filename)
        return uuid.uuid4()


async def test_documents_up_to_512_kib_are_embedded_and_larger_ones_uploaded(tmp_path: Path) -> None:
    client = Recording()
    small, large = tmp_path / "small.pdf", tmp_path / "large.pdf"
    small.write_bytes(b"%PDF-" + b"x" * (EMBED_UP_TO - 5))
    large.write_bytes(b"%PDF-" + b"x" * EMBED_UP_TO)
    letter_id = uuid.uuid4()

    embedded, none = await client._document(small, letter_id)
    nothing, upload_id = await client._document(large, letter_id)

    assert embedded is not None and embedded.content == small.read_bytes() and none is None
    assert nothing is None and upload_id is not None
    assert client.uploaded == ["large.pdf"]
    # Below the archive's own limit: a 1 MiB document could travel inside, but costs more so.
    assert EMBED_UP_TO < EMBEDDED_LIMIT
