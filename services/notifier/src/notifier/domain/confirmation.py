"""The confirmation a recipient receives on opening a verification case (DESIGN §2 step 5).

It goes by the channel chosen for the code (email or SMS) and says what the pickup site
said: the case reference, how the documents are to be sent and which documents the
sender's policy requires; then that support staff check them (and may phone the firm's
landline) before the code is sent. Like the code, it names neither the sender nor the
subject of the letter (CPCE R.53-3). The SMS keeps to the GSM 7-bit alphabet.
"""

from __future__ import annotations

from dataclasses import dataclass

from lre_shared.contracts import DocumentChannel, RequiredDocument
from notifier.domain.notice import Language

DOCUMENTS: dict[RequiredDocument, tuple[str, str]] = {
    RequiredDocument.identity: (
        "une pièce d'identité en cours de validité (carte d'identité, passeport ou titre de séjour)",
        "a valid identity document (identity card, passport or residence permit)",
    ),
    RequiredDocument.identity_six_months: (
        "une pièce d'identité en cours de validité dont l'expiration éventuelle est postérieure à 6 mois",
        "an identity document valid for more than 6 more months",
    ),
    RequiredDocument.company_extract: (
        "un extrait Kbis portant un numéro SIREN ou SIRET valide",
        "a company extract (Kbis) with a valid SIREN or SIRET number",
    ),
    RequiredDocument.bar_certificate: (
        "l'attestation d'inscription à l'Ordre de l'année en cours",
        "this year's bar registration certificate",
    ),
}

# How to send the documents: {address} is the desk's, {reference} the case's.
SENDING: dict[DocumentChannel, tuple[str, str]] = {
    DocumentChannel.upload: (
        "Déposez-les sur la page de votre courrier, sur le site de relève (demande {reference}).",
        "Upload them on your letter's page of the pickup site (request {reference}).",
    ),
    DocumentChannel.email: (
        "Envoyez-les par e-mail à {address}, en indiquant la référence {reference} dans l'objet.",
        "Email them to {address}, with the reference {reference} in the subject.",
    ),
    DocumentChannel.mms: (
        "Envoyez-en une photo par MMS au {address}, en indiquant la référence {reference} dans le message.",
        "Send a photo of them by MMS to {address}, with the reference {reference} in the message.",
    ),
    DocumentChannel.fax: (
        "Envoyez-les par fax au {address}, en indiquant la référence {reference} sur la page de garde.",
        "Fax them to {address}, with the reference {reference} on the cover page.",
    ),
}


@dataclass(frozen=True)
class CaseConfirmation:
    reference: str
    document_channel: DocumentChannel
    document_address: str | None
    required_documents: tuple[RequiredDocument, ...]
    code_channel: str  # email or sms: where the code will go too
    language: Language = "fr"


@dataclass(frozen=True)
class ConfirmationText:
    subject: str
    text: str


def _pick(pair: tuple[str, str], language: Language) -> str:
    return pair[1] if language == "en" else pair[0]


def document_list(documents: tuple[RequiredDocument, ...], language: Language) -> list[str]:
    return [_pick(DOCUMENTS[document], language) for document in documents]


def sending(confirmation: CaseConfirmation) -> str:
    return _pick(SENDING[confirmation.document_channel], confirmation.language).format(
        address=confirmation.document_address or "", reference=confirmation.reference
    )


def confirmation_email(confirmation: CaseConfirmation) -> ConfirmationText:
    documents = "\n".join(
        f"- {line}" for line in document_list(confirmation.required_documents, confirmation.language)
    )
    by_sms = confirmation.code_channel == "sms"
    if confirmation.language == "en":
        return ConfirmationText(
            f"Your signing code request {confirmation.reference} is recorded",
            "Hello,\n\n"
            f"Your request for a one-time signing code is recorded under the reference"
            f" {confirmation.reference}.\n\n"
            "To verify your identity, we need:\n"
            f"{documents}\n\n"
            f"{sending(confirmation)}\n\n"
            "Our support staff will check your documents; your firm may be called back on its"
            " landline. Once your identity is verified, you will receive your signing code"
            f" {'by text message' if by_sms else 'by email'}.\n\n"
            "The documents you send stay confidential and are used for nothing else.\n",
        )
    return ConfirmationText(
        f"Votre demande de code de signature {confirmation.reference} est enregistrée",
        "Bonjour,\n\n"
        "Votre demande de code de signature à usage unique est enregistrée sous la référence"
        f" {confirmation.reference}.\n\n"
        "Pour vérifier votre identité, nous avons besoin des pièces suivantes :\n"
        f"{documents}\n\n"
        f"{sending(confirmation)}\n\n"
        "Notre service support va vérifier vos justificatifs ; votre cabinet est susceptible d'être"
        " rappelé à son numéro de téléphone fixe. Après vérification de votre identité, vous"
        f" recevrez votre code de signature {'par SMS' if by_sms else 'par e-mail'}.\n\n"
        "Les documents que vous nous fournissez restent confidentiels et ne sont exploités à"
        " aucune autre fin.\n",
    )


# Short names for the SMS, in the GSM 7-bit alphabet.
SMS_DOCUMENTS: dict[RequiredDocument, tuple[str, str]] = {
    RequiredDocument.identity: ("pièce d'identité valide", "valid identity document"),
    RequiredDocument.identity_six_months: (
        "piece d'identité valide plus de 6 mois",
        "identity document valid 6+ more months",
    ),
    RequiredDocument.company_extract: (
        "extrait Kbis (SIREN/SIRET valide)",
        "Kbis extract (valid SIREN/SIRET)",
    ),
    RequiredDocument.bar_certificate: (
        "attestation d'inscription à l'Ordre de l'année",
        "this year's bar registration certificate",
    ),
}

SMS_SENDING: dict[DocumentChannel, tuple[str, str]] = {
    DocumentChannel.upload: ("à déposer sur le site de relève", "to upload on the pickup site"),
    DocumentChannel.email: ("à envoyer par e-mail à {address}", "to email to {address}"),
    DocumentChannel.mms: ("à envoyer par MMS au {address}", "to send by MMS to {address}"),
    DocumentChannel.fax: ("à envoyer par fax au {address}", "to fax to {address}"),
}


def confirmation_sms(confirmation: CaseConfirmation) -> str:
    language = confirmation.language
    documents = ", ".join(_pick(SMS_DOCUMENTS[d], language) for d in confirmation.required_documents)
    how = _pick(SMS_SENDING[confirmation.document_channel], language).format(
        address=confirmation.document_address or ""
    )
    if language == "en":
        return (
            f"Signing code request {confirmation.reference} recorded. Needed: {documents}, {how}"
            f" (reference {confirmation.reference}). Your code follows once they are checked."
        )
    return (
        f"Demande de code de signature {confirmation.reference} enregistrée. Pièces : {documents}, {how}"
        f" (référence {confirmation.reference}). Votre code suivra après vérification."
    )
