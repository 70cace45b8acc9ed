"""Webhook endpoints' signing secrets at rest, encrypted by the archive itself.

The secrets sign with HMAC, so the archive must read them back: they cannot be hashed. Each
is stored as `enc:v1:<base64url(nonce ‖ ciphertext ‖ tag)>`, AES-256-GCM under a key derived
(HKDF-SHA256) from `ARCHIVE_WEBHOOK_SECRETS_KEY`, with a fresh 96-bit nonce per value and the
sender id as associated data: a database dump holds no secret, and a value copied into
another sender's row does not open. `v1` names the format and its key: a later key would be
`v2`, read beside `v1` while the rows are sealed again.

A value without the `enc:` prefix is a secret stored in plain text before this encryption
(`whsec_…`): it is read as it is, and sealed when the service starts (`PgWebhooks.seal_legacy`).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED = "enc:"  # every sealed value starts with it, never a plain `whsec_…` secret
V1 = SEALED + "v1:"
NONCE_BYTES = 12
KEY_SETTING = "ARCHIVE_WEBHOOK_SECRETS_KEY"


class WebhookSecretUnreadable(RuntimeError):
    """A stored secret the configured key does not open: another key, an altered row, or a
    format this version does not read. Names the sender, never a secret."""


class SecretBox:
    """Seals and opens the webhook secrets of the archive's database (AES-256-GCM, v1)."""

    def __init__(self, key: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"lre-archive webhook secrets v1"
        ).derive(key.encode())
        self._aead = AESGCM(derived)

    def __repr__(self) -> str:
        return "SecretBox(v1)"

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(SEALED)

    def seal(self, sender_id: str, secret: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, secret.encode(), sender_id.encode())
        return V1 + base64.urlsafe_b64encode(sealed).decode()

    def open(self, sender_id: str, stored: str) -> str:
        """The secret `stored` holds: sealed (`enc:v1:`), or plain as stored before encryption."""
        if not self.is_sealed(stored):
            return stored
        if not stored.startswith(V1):
            version = stored[len(SEALED) :].partition(":")[0]
            raise WebhookSecretUnreadable(
                f"the webhook secret of sender {sender_id!r} is sealed in format {version!r},"
                " which this version of the archive does not read"
            )
        try:
            sealed = base64.urlsafe_b64decode(stored[len(V1) :].encode())
            secret = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], sender_id.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise WebhookSecretUnreadable(
                f"the webhook secret of sender {sender_id!r} does not decrypt with {KEY_SETTING}:"
                " the key is not the one it was sealed with, or the row was altered or copied from"
                " another sender"
            ) from None
        return secret.decode()
