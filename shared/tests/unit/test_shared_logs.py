"""The shared logging setup keeps each service's log to what an operator reads."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from lre_shared.documents import EPOCH, Paragraph, render_document
from lre_shared.logs import configure_logging


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[Kept]:
    """What reaches the root logger once a service has configured its logging (the setup
    undone afterwards: it changes process-wide loggers)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quieted = {name: logging.getLogger(name).level for name in ("faststream", "uvicorn.access", "fontTools")}
    configure_logging("signer", "INFO")
    kept = Kept()
    root.addHandler(kept)
    yield kept
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in quieted.items():
        logging.getLogger(name).setLevel(was)


def test_rendering_a_pdf_logs_nothing_of_the_font_subsetting(logged: Kept) -> None:
    blocks = [Paragraph("Preuve de dépôt", 14, bold=True), Paragraph("Łukasz Dvořák")]
    render_document(blocks, title="Preuve", created=EPOCH)
    assert [r.getMessage() for r in logged.records if r.name.startswith("fontTools")] == []


def test_a_font_warning_still_reaches_the_log(logged: Kept) -> None:
    logging.getLogger("fontTools.subset").warning("glyph missing")
    assert [r.getMessage() for r in logged.records] == ["glyph missing"]
