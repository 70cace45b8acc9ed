"""Webhook secrets sealed at rest: AES-GCM under the configured key, bound to their sender,
versioned; a plain value from before is read as it is; the wrong key, another sender's row or
an unknown version is refused, naming the sender and never the secret."""

from __future__ import annotations

import pytest

from archive.adapters.webhook_secrets import SecretBox, WebhookSecretUnreadable
from archive.service_layer.webhooks import Endpoint
from lre_shared import webhooks

KEY = "k" * 32
SECRET = webhooks.new_secret()


def test_a_sealed_secret_is_versioned_opens_back_and_differs_each_time() -> None:
    box = SecretBox(KEY)
    sealed = box.seal("acme", SECRET)
    assert sealed.startswith("enc:v1:")
    assert SECRET not in sealed and SECRET.removeprefix("whsec_") not in sealed
    assert box.is_sealed(sealed)
    assert box.open("acme", sealed) == SECRET
    assert box.seal("acme", SECRET) != sealed  # a fresh nonce each time


def test_a_plain_secret_from_before_the_encryption_is_read_as_it_is() -> None:
    box = SecretBox(KEY)
    assert not box.is_sealed(SECRET)
    assert box.open("acme", SECRET) == SECRET


def test_another_key_another_sender_or_an_altered_value_is_refused_without_the_secret() -> None:
    sealed = SecretBox(KEY).seal("acme", SECRET)
    altered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    for box, sender, value in (
        (SecretBox("o" * 32), "acme", sealed),
        (SecretBox(KEY), "globex", sealed),
        (SecretBox(KEY), "acme", altered),
        (SecretBox(KEY), "acme", "enc:v1:not base64!"),
    ):
        with pytest.raises(WebhookSecretUnreadable, match="ARCHIVE_WEBHOOK_SECRETS_KEY") as refused:
            box.open(sender, value)
        assert sender in str(refused.value)
        assert SECRET not in str(refused.value)


def test_a_format_this_version_does_not_read_is_refused_by_name() -> None:
    with pytest.raises(WebhookSecretUnreadable, match="format 'v2'"):
        SecretBox(KEY).open("acme", "enc:v2:AAAA")


def test_neither_the_box_nor_an_endpoint_shows_a_secret_or_key() -> None:
    endpoint = Endpoint("acme", "https://erp.acme.example/lre", SECRET, webhooks.new_secret())
    assert "whsec_" not in repr(endpoint)
    assert KEY not in repr(SecretBox(KEY))
