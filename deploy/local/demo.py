"""A demo letter: a small, valid one-page PDF and a recipient to send it to."""

from __future__ import annotations

from lre_shared.messages import Recipient, Sender
from lre_shared.pdf import assemble

DEMO_SENDER = Sender(id="demo-sender", name="Cabinet Démo Avocats", email="greffe@cabinet-demo.example")
DEMO_RECIPIENT = Recipient(
    company="Société Exemple SAS",
    last_name="Martin",
    first_name="Camille",
    address="12 avenue de l'Opéra",
    postcode="75001",
    city="Paris",
    email="camille.martin@exemple.example",
)


def demo_pdf(text: str = "Lettre recommandee electronique de demonstration") -> bytes:
    """A minimal, well-formed PDF (correct cross-reference table) showing one line of text."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 18 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return assemble(objects)
