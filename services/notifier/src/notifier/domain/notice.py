"""The notice (avis de mise à disposition) a recipient receives.

CPCE R.53-3: the notice tells the recipient that a registered letter waits, with the
item number, where to pick it up and until when; it never names the sender, nor the
subject, before the recipient accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape


@dataclass(frozen=True)
class NoticeText:
    subject: str
    text: str
    html: str


def _french_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def render_notice(item_number: str, pickup_url: str, deadline: date) -> NoticeText:
    link = pickup_url.rstrip("/") + "/"
    subject = "Une lettre recommandée électronique vous attend"
    lines = [
        "Bonjour,",
        "",
        "Une lettre recommandée électronique vous a été adressée.",
        "",
        f"Numéro de pli : {item_number}",
        f"Pour la relever, rendez-vous sur : {link}",
        f"Vous pouvez l'accepter ou la refuser jusqu'au {_french_date(deadline)} inclus.",
        "Passé ce délai, elle sera considérée comme non réclamée.",
        "",
        "L'identité de l'expéditeur vous sera communiquée lorsque vous aurez accepté le pli.",
        "Ce message ne contient aucune pièce jointe et ne vous demande aucun paiement ;",
        f"pour vérifier qu'il est authentique, saisissez vous-même l'adresse {link}",
        "dans votre navigateur plutôt que de suivre un lien.",
    ]
    text = "\n".join(lines) + "\n"
    html = (
        '<!doctype html><html lang="fr"><body>'
        "<p>Bonjour,</p>"
        "<p>Une lettre recommandée électronique vous a été adressée.</p>"
        f"<p><strong>Numéro de pli : {escape(item_number)}</strong></p>"
        f'<p>Pour la relever, rendez-vous sur <a href="{escape(link)}">{escape(link)}</a>.</p>'
        f"<p>Vous pouvez l'accepter ou la refuser jusqu'au {_french_date(deadline)} inclus. "
        "Passé ce délai, elle sera considérée comme non réclamée.</p>"
        "<p>L'identité de l'expéditeur vous sera communiquée lorsque vous aurez accepté le pli.</p>"
        "<p>Ce message ne contient aucune pièce jointe et ne vous demande aucun paiement ; "
        f"pour vérifier qu'il est authentique, saisissez vous-même l'adresse {escape(link)} "
        "dans votre navigateur plutôt que de suivre un lien.</p>"
        "</body></html>"
    )
    return NoticeText(subject=subject, text=text, html=html)
