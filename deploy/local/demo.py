"""A demo letter: a small, valid one-page PDF and a recipient to send it to."""

from __future__ import annotations

from lre_shared.contracts import Recipient, Sender
from lre_shared.documents import render_line

DEMO_SENDER = Sender(id="demo-sender", name="Cabinet Démo Avocats", email="greffe@cabinet-demo.example")
DEMO_RECIPIENT = Recipient(
    company="Société Exemple SAS",
    last_name="Martin",
    first_name="Camille",
    address="12 avenue de l'Opéra",
    postcode="75001",
    city="Paris",
    email="camille.martin@exemple.example",
    # A company's officer, receiving it for the company: no consent needed (CPCE L.100).
    kind="professional",
)


def demo_pdf(text: str = "Lettre recommandée électronique de démonstration") -> bytes:
    """A one-page PDF/A showing `text` on one line; the same text gives the same bytes, and a
    longer text a larger file (letters of a given size are made this way)."""
    return render_line(text, size=18, title="Lettre de démonstration")
