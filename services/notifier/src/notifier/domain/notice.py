"""The notice (avis de mise à disposition) a recipient receives, on every channel.

CPCE R.53-3: the notice tells the recipient that a registered letter waits, with the
item number, where to pick it up and until when; it never names the sender, nor the
subject, before the recipient accepts. Nothing here is ever given the sender: a `Notice`
has no field that could hold it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal
from urllib.parse import urlsplit

from lre_shared.contracts import NoticeKind

Language = Literal["fr", "en"]


@dataclass(frozen=True)
class Notice:
    item_number: str
    pickup_url: str
    deadline: date
    language: Language = "fr"
    kind: NoticeKind = NoticeKind.notice
    opt_out_url: str | None = None  # reminders only: stops further reminders

    @property
    def link(self) -> str:
        return self.pickup_url.rstrip("/") + "/"

    @property
    def site(self) -> str:
        """The pickup site's host name, as a person types it."""
        return urlsplit(self.link).hostname or self.link


def deadline_text(notice: Notice) -> str:
    return notice.deadline.strftime("%d/%m/%Y")


def sms_text(notice: Notice) -> str:
    """One or two GSM-7 segments (see gsm7): no character outside the GSM alphabet."""
    if notice.language == "en":
        return (
            f"A registered electronic letter awaits you. Item number {notice.item_number}. "
            f"Accept or refuse it by {deadline_text(notice)} on {notice.link} "
            "(type the address yourself)."
        )
    return (
        f"Une lettre recommandée électronique vous attend. Numéro de pli {notice.item_number}, "
        f"à accepter ou refuser avant le {deadline_text(notice)} inclus sur {notice.link} "
        "(saisissez l'adresse dans votre navigateur)."
    )


def spoken_digits(item_number: str) -> str:
    """'7, 9, 9, ...': a text-to-speech voice reads each digit alone."""
    return ", ".join(item_number)


def spoken_site(notice: Notice) -> str:
    return notice.site.replace(".", " point " if notice.language == "fr" else " dot ")


@dataclass(frozen=True)
class VoiceScript:
    """What the call says: the item number is read digit by digit, twice."""

    opening: str
    number_intro: str
    digits: str
    repeat_intro: str
    closing: str
    language: str


def voice_script(notice: Notice) -> VoiceScript:
    site = spoken_site(notice)

    def say(french: str, english: str) -> str:
        return english if notice.language == "en" else french

    return VoiceScript(
        opening=say(
            "Bonjour. Une lettre recommandée électronique vous attend.",
            "Hello. A registered electronic letter is waiting for you.",
        ),
        number_intro=say("Son numéro de pli est :", "Its item number is:"),
        digits=spoken_digits(notice.item_number),
        repeat_intro=say("Je répète, le numéro de pli est :", "Again, the item number is:"),
        closing=say(
            f"Pour la relever, rendez-vous sur le site {site}. Au revoir.",
            f"To pick it up, go to {site}. Goodbye.",
        ),
        language=say("fr-FR", "en-GB"),
    )
