"""The one-time signing code message: the code and until when it works, nothing else.

Codes go by email or SMS only (DESIGN §2 step 5); like the notice, the message names
neither the sender nor the subject of the letter (CPCE R.53-3). The SMS fits one GSM-7
segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier.domain.notice import Language
from notifier.domain.reminders import PARIS


@dataclass(frozen=True)
class CodeText:
    subject: str
    text: str


def code_text(code: str, expires_at: datetime, language: Language = "fr") -> CodeText:
    until = expires_at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")
    if language == "en":
        return CodeText(
            "Your signing code for a registered electronic letter",
            f"Your signing code: {code}. Valid until {until} (Paris time). Never share it.",
        )
    return CodeText(
        "Votre code de signature de lettre recommandée électronique",
        f"Votre code de signature : {code}. Valable jusqu'au {until} (heure de Paris). "
        "Ne le communiquez à personne.",
    )
