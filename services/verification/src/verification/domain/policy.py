"""Verification policies: what an agent must have checked before approving a case.

The sender chooses the policy of each letter (`SubmitLetter.verification_policy`):

- `default`: one identity document, valid today;
- `cnb` (Conseil national des barreaux, for letters to lawyers): an identity document valid
  for more than 6 more months, a company extract (Kbis) whose SIREN or SIRET is valid
  (`lre_shared.siret`: its check digit, La Poste's exception, never all zeros), and the bar
  registration certificate of the current year.

The agent fills a checklist (one line per document looked at: its type, number, expiry
or issue date); `unmet_rules` lists what the checklist still lacks, each rule as a code with
its parameters (for a console to word in the agent's language) and as an English sentence an
agent can act on (`unmet`: the sentences alone). Dates are French calendar dates (Europe/Paris).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lre_shared.contracts import RequiredDocument
from lre_shared.siret import siren_or_siret_valid
from lre_shared.text import SafeText

PolicyName = Literal["default", "cnb"]
CNB_IDENTITY_MONTHS = 6


class DocumentKind(StrEnum):
    identity = "identity"  # carte d'identité, passeport, titre de séjour
    company_extract = "company_extract"  # extrait Kbis
    bar_certificate = "bar_certificate"  # attestation d'inscription au barreau


class UnmetCode(StrEnum):
    """A policy rule a checklist can fail, with the parameters its sentence names."""

    identity_today = "identity_today"
    identity_after = "identity_after"  # `date`: the ISO day it must be valid after
    company_extract = "company_extract"
    siret = "siret"
    bar_certificate = "bar_certificate"  # `year`: the year it must be issued in


_ENGLISH = {
    UnmetCode.identity_today: "an identity document valid today (with its expiry date) is required",
    UnmetCode.identity_after: "an identity document valid after {date} (more than 6 months) is required",
    UnmetCode.company_extract: "a company extract (Kbis) with its SIREN or SIRET number is required",
    UnmetCode.siret: "the company extract's SIREN/SIRET number fails its check digit",
    UnmetCode.bar_certificate: "a bar registration certificate issued in {year} is required",
}


class UnmetRule(BaseModel):
    """One rule of the policy a checklist does not meet."""

    model_config = ConfigDict(frozen=True)

    code: UnmetCode = Field(description="The rule: a client words it from this and `params`.")
    params: dict[str, str] = Field(
        description="Its parameters: `date` (an ISO day) for `identity_after`, `year` for `bar_certificate`."
    )
    text: str = Field(description="The rule in English, for a client that does not know `code`.")

    @classmethod
    def of(cls, code: UnmetCode, **params: str) -> UnmetRule:
        return cls(code=code, params=params, text=_ENGLISH[code].format(**params))


class ChecklistItem(BaseModel):
    """One document the agent looked at, as the agent read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DocumentKind
    document_type: SafeText = Field(
        min_length=1, max_length=60, description="e.g. passport, id_card, residence_permit, kbis"
    )
    number: SafeText = Field(
        min_length=1, max_length=60, description="Document number; SIREN/SIRET for a Kbis."
    )
    expiry_date: date | None = Field(default=None, description="Identity documents: valid until.")
    issued_on: date | None = Field(default=None, description="Bar certificates and extracts: issue date.")


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    # Clamp to the month's last day (31 August + 6 months is 28 or 29 February).
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - some day in 28..31 always exists


def _identity_valid_until(items: list[ChecklistItem], after: date) -> bool:
    return any(
        i.kind is DocumentKind.identity and i.expiry_date is not None and i.expiry_date > after for i in items
    )


def unmet_rules(policy: PolicyName, items: list[ChecklistItem], today: date) -> list[UnmetRule]:
    """The rules of `policy` the checklist fails on `today`; empty when it satisfies it."""
    if policy == "default":
        if not _identity_valid_until(items, today - timedelta(days=1)):
            return [UnmetRule.of(UnmetCode.identity_today)]
        return []
    problems: list[UnmetRule] = []
    limit = add_months(today, CNB_IDENTITY_MONTHS)
    if not _identity_valid_until(items, limit):
        problems.append(UnmetRule.of(UnmetCode.identity_after, date=limit.isoformat()))
    extracts = [i for i in items if i.kind is DocumentKind.company_extract]
    if not extracts:
        problems.append(UnmetRule.of(UnmetCode.company_extract))
    elif not any(siren_or_siret_valid(i.number) for i in extracts):
        problems.append(UnmetRule.of(UnmetCode.siret))
    certificates = [i for i in items if i.kind is DocumentKind.bar_certificate]
    if not any(i.issued_on is not None and i.issued_on.year == today.year for i in certificates):
        problems.append(UnmetRule.of(UnmetCode.bar_certificate, year=str(today.year)))
    return problems


def unmet(policy: PolicyName, items: list[ChecklistItem], today: date) -> list[str]:
    """What the checklist lacks for `policy` on `today`, in English; empty when it satisfies it."""
    return [rule.text for rule in unmet_rules(policy, items, today)]


def required_documents(policy: PolicyName) -> tuple[RequiredDocument, ...]:
    """What the recipient is asked to send under `policy`: what `unmet` checks, as a list."""
    if policy == "cnb":
        return (
            RequiredDocument.identity_six_months,
            RequiredDocument.company_extract,
            RequiredDocument.bar_certificate,
        )
    return (RequiredDocument.identity,)
