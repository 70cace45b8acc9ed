"""Every text of the site, in French (the default) and English.

The French follows the wording recipients already know from registered-letter pickup
sites (Numéro de pli, Relever le pli, Accepter, Refuser, Demander un code, Signer,
Enregistrer tous les documents).
"""

from __future__ import annotations

from typing import Literal

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")
DEFAULT_LANGUAGE: Language = "fr"

TEXTS: dict[str, tuple[str, str]] = {
    # ----------------------------------------------------------------- every page
    "site.name": ("Lettre recommandée électronique", "Electronic registered letter"),
    "site.title_suffix": ("Lettre recommandée électronique", "Electronic registered letter"),
    "site.help": (
        "Besoin d'aide ? Contactez le support de votre prestataire.",
        "Need help? Contact your provider's support.",
    ),
    "site.switch": ("English", "Français"),
    "site.skip": ("Aller au contenu", "Skip to content"),
    "site.another": ("Relever un autre pli", "Pick up another letter"),
    "site.retry": ("Réessayer", "Try again"),
    "site.sign_out": ("Se déconnecter", "Sign out"),
    "site.signed_out": (
        "Vous êtes déconnecté. Pour revenir à votre courrier, saisissez de nouveau le numéro de pli.",
        "You are signed out. To come back to your letter, enter the item number again.",
    ),
    "form.errors_title": ("Le formulaire contient des erreurs :", "The form has errors:"),
    "form.optional": ("facultatif", "optional"),
    "form.required": ("Ce champ est obligatoire.", "This field is required."),
    "time.at": ("{date} à {time}", "{date} at {time}"),
    # ---------------------------------------------------------------- item number
    "item.title": ("Relevez votre courrier", "Pick up your letter"),
    "item.intro": (
        "Pour relever votre courrier, renseignez le numéro de pli que vous avez reçu par e-mail,"
        " SMS, fax ou message vocal.",
        "To pick up your letter, enter the item number you received by email, text message, fax"
        " or voice message.",
    ),
    "item.label": ("Numéro de pli", "Item number"),
    "item.hint": ("12 chiffres, par exemple 123456789012.", "12 digits, for example 123456789012."),
    "item.next": ("Suivant", "Next"),
    "item.malformed": ("Le numéro de pli compte {digits} chiffres.", "The item number has {digits} digits."),
    "item.unknown": (
        "Aucun pli ne porte ce numéro. Vérifiez le numéro reçu dans la notification.",
        "No letter has this number. Check the number in the notice you received.",
    ),
    # ------------------------------------------------------------------- identity
    "identity.title": ("Relevez votre courrier", "Pick up your letter"),
    "identity.page_title": ("Votre identité", "Your identity"),
    "identity.intro": (
        "Afin que nous puissions nous assurer que vous êtes bien le destinataire de ce courrier,"
        " identifiez-vous en renseignant vos coordonnées.",
        "So that we can make sure you are the recipient of this letter, identify yourself with your details.",
    ),
    "identity.privacy": (
        "Les données que vous renseignez restent confidentielles ; elles ne sont ni communiquées à"
        " des tiers ni exploitées à d'autres fins.",
        "What you enter stays confidential; it is neither given to third parties nor used for any"
        " other purpose.",
    ),
    "identity.company": ("Entreprise", "Company"),
    "identity.last_name": ("Nom", "Last name"),
    "identity.first_name": ("Prénom", "First name"),
    "identity.address": ("Adresse", "Address"),
    "identity.postcode": ("Code postal", "Postcode"),
    "identity.city": ("Commune", "City"),
    "identity.submit": ("Relever le pli", "Pick up the letter"),
    "identity.unreadable": (
        "Le champ « {field} » ne contient ni lettre ni chiffre : renseignez-le comme sur vos papiers.",
        "The field “{field}” has no letters or digits: fill it in as on your papers.",
    ),
    "identity.mismatch": (
        "Ces coordonnées ne correspondent pas à celles du destinataire. Il vous reste {left} essai(s).",
        "These details do not match the recipient's. You have {left} attempt(s) left.",
    ),
    # ------------------------------------------------------------------- decision
    "decision.title": ("Réception du courrier", "Receiving the letter"),
    "decision.intro": (
        "Comme pour un courrier recommandé papier, vous devez accepter ce courrier pour y accéder."
        " Si vous le refusez, vous n'aurez pas accès au courrier et l'expéditeur sera informé de"
        " votre décision.",
        "As with a paper registered letter, you must accept this letter to read it. If you refuse"
        " it, you will not have access to it and the sender will be told of your decision.",
    ),
    "decision.legal": (
        "La date de notification, d'acceptation ou de refus d'un courrier recommandé peut être le"
        " point de départ du délai qui vous est accordé pour faire valoir vos droits ou vous acquitter"
        " de vos obligations.",
        "The date of notice, acceptance or refusal of a registered letter may start the time you"
        " have to assert your rights or meet your obligations.",
    ),
    "decision.caption": ("Votre pli", "Your letter"),
    "decision.service": ("Service", "Service"),
    "decision.service_value": ("Recommandé AR", "Registered with acknowledgement of receipt"),
    "decision.item": ("Numéro de pli", "Item number"),
    "decision.deposited": ("Date de dépôt", "Deposited on"),
    "decision.sender": ("Expéditeur", "Sender"),
    "decision.sender_hidden": ("communiqué après acceptation", "shown after acceptance"),
    "decision.until": ("À accepter ou refuser avant le", "Accept or refuse before"),
    "decision.choose": ("Choisissez « Accepter » ou « Refuser ».", "Choose “Accept” or “Refuse”."),
    "decision.accept": ("Accepter", "Accept"),
    "decision.refuse": ("Refuser", "Refuse"),
    "decided.title": ("Courrier déjà traité", "Letter already dealt with"),
    "decided.accepted": (
        "Ce courrier a déjà été accepté. Signez l'avis de réception pour accéder aux documents.",
        "This letter was already accepted. Sign the acknowledgement of receipt to reach the documents.",
    ),
    "decided.refused": ("Ce courrier a déjà été refusé.", "This letter was already refused."),
    "decided.continue": ("Continuer", "Continue"),
    "refused.title": ("Courrier refusé", "Letter refused"),
    "refused.body": (
        "Vous avez refusé ce courrier. L'expéditeur en a été informé.",
        "You refused this letter. The sender has been told.",
    ),
    "unclaimed.title": ("Courrier non réclamé", "Letter unclaimed"),
    "unclaimed.body": (
        "Le délai pour accepter ou refuser ce courrier est écoulé : il est non réclamé et"
        " l'expéditeur en a été informé.",
        "The time to accept or refuse this letter has passed: it is unclaimed and the sender has been told.",
    ),
    # ------------------------------------------------------------ signature choice
    "sign.title": ("Signez l'avis de réception", "Sign the acknowledgement of receipt"),
    "sign.intro": (
        "Vous êtes sur le point de signer l'avis de réception de votre courrier recommandé ; pour"
        " cela vous devez justifier de votre identité.",
        "You are about to sign the acknowledgement of receipt of your registered letter; to do so you"
        " must prove your identity.",
    ),
    "sign.certificate_title": (
        "Vous possédez un certificat de signature numérique",
        "You have a digital signature certificate",
    ),
    "sign.certificate_body": (
        "Téléchargez l'avis de réception, signez-le avec votre certificat, puis déposez-le ici.",
        "Download the acknowledgement of receipt, sign it with your certificate, then upload it here.",
    ),
    "sign.certificate_go": ("Signer avec mon certificat", "Sign with my certificate"),
    "sign.code_title": (
        "Vous ne possédez pas de certificat de signature numérique",
        "You do not have a digital signature certificate",
    ),
    "sign.code_body": (
        "Nous pouvons vous délivrer gratuitement un code de signature à usage unique pour ce"
        " courrier, après vérification de votre identité.",
        "We can give you a free one-time signing code for this letter, once your identity is checked.",
    ),
    "sign.code_go": ("Demander un code", "Ask for a code"),
    "sign.none": (
        "Aucun moyen de signature n'est prévu pour ce courrier. Contactez le support.",
        "No way of signing is set for this letter. Contact support.",
    ),
    # ---------------------------------------------------------------- certificate
    "cert.title": ("Signer avec votre certificat", "Sign with your certificate"),
    "cert.step1": ("1. Téléchargez l'avis de réception", "1. Download the acknowledgement of receipt"),
    "cert.download": (
        "Télécharger l'avis de réception (PDF)",
        "Download the acknowledgement of receipt (PDF)",
    ),
    "cert.step2": (
        "2. Signez-le avec votre certificat (signature PDF), sans modifier le document",
        "2. Sign it with your certificate (PDF signature), without changing the document",
    ),
    "cert.step3": ("3. Déposez l'avis de réception signé", "3. Upload the signed acknowledgement of receipt"),
    "cert.file": ("Avis de réception signé", "Signed acknowledgement of receipt"),
    "cert.hint": ("Fichier PDF, {size} au plus.", "PDF file, {size} at most."),
    "cert.submit": ("Signer", "Sign"),
    "cert.other": ("Choisir un autre moyen de signature", "Choose another way of signing"),
    "cert.missing": ("Choisissez le fichier PDF signé.", "Choose the signed PDF file."),
    "cert.too_big": ("Le fichier dépasse {size}.", "The file is larger than {size}."),
    "cert.not_pdf": ("Le fichier n'est pas un PDF.", "The file is not a PDF."),
    "cert.refused": ("Avis de réception refusé : {reason}", "Acknowledgement of receipt refused: {reason}"),
    "cert.form_unavailable": (
        "L'avis de réception n'a pas pu être préparé : {reason}",
        "The acknowledgement of receipt could not be prepared: {reason}",
    ),
    "receipt.unreadable": (
        "Le fichier n'a pas pu être lu comme un PDF. Déposez l'avis de réception signé, au format PDF.",
        "The file could not be read as a PDF. Upload the signed acknowledgement of receipt as a PDF.",
    ),
    "receipt.unsigned": (
        "Le document ne contient aucune signature. Signez l'avis de réception avec votre certificat,"
        " puis déposez-le à nouveau.",
        "The document has no signature in it. Sign the acknowledgement of receipt with your"
        " certificate, then upload it again.",
    ),
    "receipt.not_issued": (
        "Aucun avis de réception n'a été émis pour ce courrier. Téléchargez-le d'abord ci-dessus.",
        "No acknowledgement of receipt was issued for this letter. Download it above first.",
    ),
    "receipt.not_our_receipt": (
        "Le document signé n'est pas l'avis de réception émis pour ce courrier, ou il a été modifié"
        " avant la signature. Signez le fichier téléchargé ci-dessus, sans le modifier.",
        "The signed document is not the acknowledgement of receipt issued for this letter, or it was"
        " changed before signing. Sign the file downloaded above, without changing it.",
    ),
    "receipt.signature_broken": (
        "La signature ne correspond pas au contenu du document. Signez à nouveau l'avis de réception.",
        "The signature does not match the document's content. Sign the acknowledgement of receipt again.",
    ),
    "receipt.modified_after_signing": (
        "Le document a été modifié après sa signature. Déposez le fichier tel que la signature l'a produit.",
        "The document was changed after it was signed. Upload the file exactly as signing produced it.",
    ),
    "receipt.untrusted": (
        "Votre certificat n'est pas délivré par une autorité reconnue par ce service. Utilisez un"
        " autre certificat, ou demandez un code de signature.",
        "Your certificate is not issued by an authority this service trusts. Use another"
        " certificate, or ask for a signing code.",
    ),
    "receipt.revoked": (
        "Votre certificat a été révoqué. Utilisez un certificat valide, ou demandez un code de signature.",
        "Your certificate has been revoked. Use a valid certificate, or ask for a signing code.",
    ),
    "receipt.revocation_unknown": (
        "La validité de votre certificat n'a pas pu être vérifiée auprès de son autorité. Réessayez"
        " dans quelques minutes.",
        "Your certificate's validity could not be checked with its authority. Try again in a few minutes.",
    ),
    "receipt.name_mismatch": (
        "Le certificat est au nom d'une autre personne que le destinataire du courrier.",
        "The certificate is in the name of someone other than the letter's recipient.",
    ),
    "receipt.expired": (
        "Votre certificat avait expiré au moment de la signature. Signez avec un certificat en cours"
        " de validité, ou demandez un code de signature.",
        "Your certificate had expired when you signed. Sign with a certificate that is still valid,"
        " or ask for a signing code.",
    ),
    "receipt.not_yet_valid": (
        "Votre certificat n'était pas encore valable au moment de la signature. Signez avec un"
        " certificat en cours de validité, ou demandez un code de signature.",
        "Your certificate was not valid yet when you signed. Sign with a certificate that is valid"
        " now, or ask for a signing code.",
    ),
    "receipt.wrong_key_usage": (
        "Votre certificat n'est pas un certificat de signature (il sert par exemple au chiffrement)."
        " Signez avec votre certificat de signature, ou demandez un code de signature.",
        "Your certificate is not a signing certificate (it is meant for encryption, for instance)."
        " Sign with your signing certificate, or ask for a signing code.",
    ),
    "receipt.found": ("Constat de la vérification : {detail}", "What the check found: {detail}"),
    # the detail line under a refusal, from the signer's findings
    "receipt.judged.timestamp": (
        "à l'heure de la signature attestée par son horodatage, le {when}",
        "at the signing time its timestamp proves, {when}",
    ),
    "receipt.judged.received": (
        "à la réception de l'avis signé, le {when} (la signature n'est pas horodatée)",
        "when the signed acknowledgement was received, {when} (the signature has no timestamp)",
    ),
    "receipt.detail.expired": (
        "le certificat de {signer} a expiré le {at} ; vérifié {judged}.",
        "the certificate of {signer} expired on {at}; checked {judged}.",
    ),
    "receipt.detail.not_yet_valid": (
        "le certificat de {signer} n'est valable qu'à partir du {at} ; vérifié {judged}.",
        "the certificate of {signer} is valid only from {at}; checked {judged}.",
    ),
    "receipt.detail.revoked": (
        "le certificat de {signer} a été révoqué le {at} ; vérifié {judged}.",
        "the certificate of {signer} was revoked on {at}; checked {judged}.",
    ),
    "receipt.detail.untrusted": (
        "le certificat de {signer} est délivré par « {issuer} », qui ne fait pas partie des"
        " autorités reconnues par ce service.",
        "the certificate of {signer} is issued by “{issuer}”, which is not among the authorities"
        " this service trusts.",
    ),
    "receipt.detail.revocation_unknown": (
        "ni le répondeur OCSP ni la liste de révocation de « {issuer} » n'ont répondu ; vérifié {judged}.",
        "neither the OCSP responder nor the revocation list of “{issuer}” answered; checked {judged}.",
    ),
    "receipt.detail.wrong_key_usage": (
        "l'usage de la clé du certificat de {signer} ne comprend ni la signature numérique ni la"
        " non-répudiation.",
        "the key usage of the certificate of {signer} allows neither digital signature nor non-repudiation.",
    ),
    "receipt.detail.name_mismatch": (
        "le certificat est au nom de {signer} ; le destinataire du courrier est {recipient}.",
        "the certificate is in the name of {signer}; the letter's recipient is {recipient}.",
    ),
    "receipt.detail.signature_broken": (
        "la signature de {signer} ne correspond plus au contenu du document : il a été altéré après"
        " la signature.",
        "the signature of {signer} no longer matches the document's content: it was altered after signing.",
    ),
    "receipt.detail.modified_after_signing": (
        "des modifications ont été enregistrées dans le document après la signature de {signer} :"
        " la signature ne couvre pas tout le document.",
        "changes were saved into the document after {signer} signed it: the signature does not"
        " cover the whole document.",
    ),
    "receipt.detail.not_our_receipt": (
        "le document signé par {signer} n'est pas, octet pour octet, l'avis de réception émis pour"
        " ce courrier.",
        "the document {signer} signed is not, byte for byte, the acknowledgement of receipt issued"
        " for this letter.",
    ),
    # --------------------------------------------------------------- code request
    "code.title": ("Demandez un code de signature", "Ask for a signing code"),
    "code.intro": (
        "Le code de signature vous permet de signer l'avis de réception. Pour l'obtenir, vous devez"
        " nous fournir un justificatif d'identité (carte d'identité, passeport, permis de conduire,"
        " extrait Kbis). Ce code est à usage unique et vous est délivré après vérification de votre"
        " identité.",
        "The signing code lets you sign the acknowledgement of receipt. To get it, send us proof of"
        " identity (identity card, passport, driving licence, company extract). The code works once"
        " and is sent after your identity is checked.",
    ),
    "code.privacy": (
        "Les documents que vous nous fournissez restent confidentiels et ne sont en aucun cas"
        " exploités à d'autres fins.",
        "The documents you send stay confidential and are never used for any other purpose.",
    ),
    "code.document_channel": (
        "Comment transmettez-vous votre justificatif d'identité ?",
        "How will you send your proof of identity?",
    ),
    "code.code_channel": (
        "Comment souhaitez-vous recevoir votre code ?",
        "How do you want to receive your code?",
    ),
    "code.choose": ("Choisissez…", "Choose…"),
    "code.channel.upload": ("Dépôt du fichier sur ce site", "Upload the file on this site"),
    "code.channel.email": ("Envoi par e-mail", "By email"),
    "code.channel.mms": ("Envoi par MMS", "By MMS"),
    "code.channel.fax": ("Envoi par fax", "By fax"),
    "code.receive.email": ("Par e-mail, à {address}", "By email, to {address}"),
    "code.receive.sms": ("Par SMS, au {address}", "By text message, to {address}"),
    "code.submit": ("OK", "OK"),
    "code.cancel": ("Annuler", "Cancel"),
    "code.pick_document_channel": (
        "Choisissez comment transmettre votre justificatif.",
        "Choose how to send your proof of identity.",
    ),
    "code.pick_code_channel": ("Choisissez comment recevoir votre code.", "Choose how to receive your code."),
    "code.not_opened": (
        "Votre demande n'a pas pu être enregistrée : {reason}",
        "Your request could not be recorded: {reason}",
    ),
    # -------------------------------------------- documents the sender's policy requires
    "required.title": ("Pièces à fournir", "Documents to send"),
    "required.identity": (
        "une pièce d'identité en cours de validité (carte d'identité, passeport ou titre de séjour)",
        "a valid identity document (identity card, passport or residence permit)",
    ),
    "required.identity_six_months": (
        "une pièce d'identité en cours de validité dont l'expiration éventuelle est postérieure à 6 mois",
        "an identity document valid for more than 6 more months",
    ),
    "required.company_extract": (
        "un extrait Kbis portant un numéro SIREN ou SIRET valide",
        "a company extract (Kbis) with a valid SIREN or SIRET number",
    ),
    "required.bar_certificate": (
        "l'attestation d'inscription à l'Ordre de l'année en cours",
        "this year's bar registration certificate",
    ),
    "wait.confirmation": (
        "Une confirmation de votre demande vous a été envoyée {channel}.",
        "A confirmation of your request has been sent to you {channel}.",
    ),
    # ------------------------------------------------------------------ documents
    "docs.title": ("Déposez votre justificatif d'identité", "Upload your proof of identity"),
    "docs.reference": ("Référence de votre demande : {reference}", "Your request's reference: {reference}"),
    "docs.file": ("Justificatif d'identité", "Proof of identity"),
    "docs.hint": (
        "PDF, JPEG ou PNG, {size} au plus. Le fichier choisi apparaît ci-dessous avant l'envoi.",
        "PDF, JPEG or PNG, {size} at most. The chosen file appears below before you send it.",
    ),
    "docs.preview": ("Aperçu", "Preview"),
    "docs.submit": ("Envoyer le justificatif", "Send the document"),
    "docs.missing": ("Choisissez le fichier de votre justificatif.", "Choose your document's file."),
    "docs.too_big": ("Le fichier dépasse {size}.", "The file is larger than {size}."),
    "docs.refused": ("Justificatif refusé : {reason}", "Document refused: {reason}"),
    # ------------------------------------------- why an uploaded file is refused
    "upload.empty": ("le fichier est vide.", "the file is empty."),
    "upload.not_accepted": (
        "seuls les fichiers {kinds} sont acceptés.",
        "only {kinds} files are accepted.",
    ),
    "upload.unreadable": (
        "le fichier est illisible ou incomplet. Enregistrez-le de nouveau et réessayez.",
        "the file cannot be read or is incomplete. Save it again and try again.",
    ),
    "upload.encrypted": (
        "le PDF est protégé par un mot de passe. Déposez-le sans mot de passe.",
        "the PDF is protected by a password. Upload it without a password.",
    ),
    "upload.active_content": (
        "le PDF contient du contenu actif (script, action automatique, pièce jointe ou multimédia)."
        " Déposez une copie sans ce contenu, imprimée en PDF par exemple.",
        "the PDF holds active content (a script, an automatic action, an attached file or"
        " multimedia). Upload a copy without it, printed to PDF for instance.",
    ),
    "upload.too_many_pixels": (
        "l'image est trop grande ({detail} pixels) : la limite est de {megapixels} mégapixels."
        " Réduisez sa définition et réessayez.",
        "the image is too large ({detail} pixels): the limit is {megapixels} megapixels."
        " Reduce its resolution and try again.",
    ),
    "upload.animated": (
        "l'image compte plus de {limit} vues. Déposez une image fixe.",
        "the image has more than {limit} frames. Upload a still image.",
    ),
    "upload.trailing_data": (
        "des données suivent la fin de l'image. Déposez l'image seule.",
        "data follows the end of the image. Upload the image alone.",
    ),
    "upload.hidden_archive": (
        "le fichier contient aussi une archive ZIP. Déposez le document seul.",
        "the file also holds a ZIP archive. Upload the document alone.",
    ),
    "docs.sent": ("{count} justificatif(s) reçu(s).", "{count} document(s) received."),
    "docs.done": ("J'ai déposé tous mes justificatifs", "I have uploaded all my documents"),
    # -------------------------------------------------------------------- waiting
    "wait.title": ("Vérification de votre identité en cours", "Your identity is being checked"),
    "wait.reference": ("Référence de votre demande : {reference}", "Your request's reference: {reference}"),
    "wait.upload": (
        "Vos justificatifs ont bien été reçus. Notre service support vérifie votre identité.",
        "Your documents have been received. Our support staff are checking your identity.",
    ),
    "wait.email": (
        "Envoyez votre justificatif par e-mail à {address}, en indiquant la référence {reference}"
        " dans l'objet.",
        "Email your proof of identity to {address}, with the reference {reference} in the subject.",
    ),
    "wait.mms": (
        "Envoyez une photo de votre justificatif par MMS au {address}, en indiquant la référence"
        " {reference} dans le message.",
        "Send a photo of your proof of identity by MMS to {address}, with the reference {reference}"
        " in the message.",
    ),
    "wait.fax": (
        "Envoyez votre justificatif par fax au {address}, en indiquant la référence {reference} sur"
        " la page de garde.",
        "Fax your proof of identity to {address}, with the reference {reference} on the cover page.",
    ),
    "wait.next": (
        "Après vérification, vous recevrez votre code de signature {channel}. Cette page se met à"
        " jour toute seule ; vous pouvez aussi la fermer et revenir plus tard avec votre numéro de pli.",
        "Once checked, you will receive your signing code {channel}. This page updates itself; you"
        " may also close it and come back later with your item number.",
    ),
    "wait.by_email": ("par e-mail", "by email"),
    "wait.by_sms": ("par SMS", "by text message"),
    "wait.more": ("Déposer un autre justificatif", "Upload another document"),
    "wait.have_code": ("J'ai reçu mon code", "I have received my code"),
    "more.title": ("Justificatif complémentaire demandé", "More documents needed"),
    "more.body": (
        "Notre service support a besoin d'un justificatif complémentaire : {reason}",
        "Our support staff need another document: {reason}",
    ),
    "rejected.title": ("Identité non vérifiée", "Identity not verified"),
    "rejected.body": (
        "Votre identité n'a pas pu être vérifiée : {reason}. Vous pouvez signer avec un certificat,"
        " ou contacter le support.",
        "Your identity could not be verified: {reason}. You may sign with a certificate, or contact support.",
    ),
    "rejected.no_reason": ("aucun motif indiqué", "no reason given"),
    # ----------------------------------------------------------------- code entry
    "enter.title": ("Signez l'avis de réception", "Sign the acknowledgement of receipt"),
    "enter.intro": (
        "Entrez le code de signature à usage unique que vous avez reçu.",
        "Enter the one-time signing code you received.",
    ),
    "enter.label": ("Code de signature", "Signing code"),
    "enter.hint": (
        "Le code reçu par e-mail ou SMS, valable 10 minutes.",
        "The code you received, valid 10 minutes.",
    ),
    "enter.submit": ("Signer", "Sign"),
    "enter.missing": ("Entrez le code reçu.", "Enter the code you received."),
    "enter.wrong": (
        "Ce code n'est pas le bon. Il vous reste {left} essai(s).",
        "This code is not right. You have {left} attempt(s) left.",
    ),
    "enter.wrong_plain": ("Ce code n'est pas le bon.", "This code is not right."),
    "enter.approved": (
        "Votre identité a été vérifiée : un code vous a été envoyé.",
        "Your identity was verified: a code has been sent to you.",
    ),
    "enter.new_sent": ("Un nouveau code vous a été envoyé.", "A new code has been sent to you."),
    "enter.new": ("Demander un nouveau code", "Ask for a new code"),
    "enter.failed": (
        "Votre code de signature n'a pas pu vous être envoyé {channel}. Choisissez comment recevoir un"
        " nouveau code :",
        "Your signing code could not be sent to you {channel}. Choose how to receive a new code:",
    ),
    "enter.resend.email": ("Recevoir un code par e-mail, à {address}", "Get a code by email, at {address}"),
    "enter.resend.sms": (
        "Recevoir un code par SMS, au {address}",
        "Get a code by text message, at {address}",
    ),
    "enter.throttled": (
        "Un code vient d'être envoyé. Patientez {seconds} secondes avant d'en demander un nouveau.",
        "A code was just sent. Wait {seconds} seconds before asking for a new one.",
    ),
    "enter.not_issued": (
        "Aucun nouveau code n'a pu être envoyé : {reason}",
        "No new code could be sent: {reason}",
    ),
    "expired.code_title": ("Code expiré", "Code expired"),
    "expired.code_body": (
        "Ce code a expiré : un code n'est valable que quelques minutes. Demandez-en un nouveau.",
        "This code has expired: a code is valid for a few minutes only. Ask for a new one.",
    ),
    "used.title": ("Code déjà utilisé", "Code already used"),
    "used.body": (
        "Ce code a déjà servi : un code ne s'utilise qu'une fois. Demandez-en un nouveau si"
        " l'avis de réception n'est pas encore signé.",
        "This code was already used: a code works once only. Ask for a new one if the"
        " acknowledgement of receipt is not signed yet.",
    ),
    "codelocked.title": ("Code bloqué", "Code blocked"),
    "codelocked.body": (
        "Trop de codes erronés : ce code est bloqué. Demandez un nouveau code.",
        "Too many wrong codes: this code is blocked. Ask for a new code.",
    ),
    # ------------------------------------------------------------------ downloads
    "letter.title": ("Réception du courrier", "Receiving the letter"),
    "letter.recipient": ("Destinataire", "Recipient"),
    "letter.picked_up": ("Date de relève", "Picked up on"),
    "letter.signed": ("Avis de réception signé le", "Acknowledgement of receipt signed on"),
    "letter.notice": (
        "Les courriers sont téléchargeables pendant {hours} heures à partir de la signature de"
        " l'avis de réception. Pensez à enregistrer les fichiers ouverts.",
        "Letters can be downloaded for {hours} hours from the signature of the acknowledgement of"
        " receipt. Remember to save the files you open.",
    ),
    "letter.remaining": (
        "Temps restant pour télécharger : {hours} h {minutes} min (jusqu'au {until}).",
        "Time left to download: {hours} h {minutes} min (until {until}).",
    ),
    "letter.yours": ("Votre courrier", "Your letter"),
    "letter.main": ("Document principal", "Main document"),
    "letter.attachment": ("Pièce jointe", "Attachment"),
    "letter.kb": ("{size} Ko", "{size} KB"),
    "letter.all": ("Enregistrer tous les documents", "Save all documents"),
    "letter.all_hint": (
        "Un fichier .zip : les documents et l'enveloppe pli_{item}.pdf, récapitulatif de votre courrier."
        " Taille totale des documents : {size} Ko.",
        "One .zip file: the documents and the envelope pli_{item}.pdf, a summary of your letter."
        " Documents' total size: {size} KB.",
    ),
    "over.title": ("Fenêtre de téléchargement terminée", "Download window over"),
    "over.body": (
        "La fenêtre de téléchargement de {hours} heures après la signature de l'avis de réception"
        " est terminée depuis le {until} : les documents ne sont plus disponibles. Les preuves"
        " restent conservées ; l'expéditeur peut vous renvoyer le courrier.",
        "The {hours}-hour download window after the signature of the acknowledgement of receipt"
        " ended on {until}: the documents are no longer available. The proofs are kept; the"
        " sender may send you the letter again.",
    ),
    # -------------------------------------------------------------- other states
    "locked.title": ("Pli verrouillé", "Letter locked"),
    "locked.item": (
        "Trop d'essais infructueux : ce pli est verrouillé jusqu'au {until}. Vous pourrez alors"
        " réessayer ; le support de votre prestataire peut aussi le débloquer plus tôt.",
        "Too many failed attempts: this letter is locked until {until}. You may try again then;"
        " your provider's support can also unlock it sooner.",
    ),
    "locked.address_title": ("Trop d'essais infructueux", "Too many failed attempts"),
    "locked.address": (
        "Trop d'essais infructueux depuis votre connexion. Réessayez après le {until}.",
        "Too many failed attempts from your connection. Try again after {until}.",
    ),
    "locked.code": (
        "Trop de codes erronés pour ce pli : la signature par code est verrouillée jusqu'au {until}."
        " Vous pourrez alors demander un nouveau code ; le support de votre prestataire peut aussi la"
        " débloquer plus tôt.",
        "Too many wrong codes for this letter: signing by code is locked until {until}. You may ask for"
        " a new code then; your provider's support can also unlock it sooner.",
    ),
    "expired.title": ("Session expirée", "Session expired"),
    "expired.body": (
        "Votre session a expiré ou le formulaire n'est plus valide. Recommencez depuis le début.",
        "Your session has expired or the form is no longer valid. Start again from the beginning.",
    ),
    "notfound.title": ("Document introuvable", "Document not found"),
    "notfound.body": ("Ce document n'est pas disponible.", "This document is not available."),
    "unavailable.title": ("Service momentanément indisponible", "Service temporarily unavailable"),
    "unavailable.body": (
        "Le service n'a pas répondu à temps. Réessayez dans quelques instants.",
        "The service did not answer in time. Try again in a moment.",
    ),
    "problem.title": ("Opération impossible", "This cannot be done"),
}


def text(language: str, key: str, **values: object) -> str:
    """The text `key` in `language` (French when unknown), with `values` filled in."""
    french, english = TEXTS[key]
    template = english if language == "en" else french
    return template.format(**values) if values else template


def language_of(value: object) -> Language:
    return "en" if value == "en" else DEFAULT_LANGUAGE
