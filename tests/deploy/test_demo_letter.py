"""The demo letter spells every name, in an embedded font."""

from __future__ import annotations

from io import BytesIO

import pytest
from pypdf import PdfReader

from deploy.local.demo import demo_pdf


@pytest.mark.parametrize("name", ["Łukasz Dvořák", "Ørsted", "Nguyễn Thị Minh Khai"])
def test_the_demo_letter_spells_the_name_exactly(name: str) -> None:
    pdf = demo_pdf(f"Mise en demeure de {name}")

    assert PdfReader(BytesIO(pdf)).pages[0].extract_text() == f"Mise en demeure de {name}"
    assert b"/FontFile2" in pdf and b"/Helvetica" not in pdf
