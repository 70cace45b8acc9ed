"""Presigned URLs to the store's objects: the minio client's own where only the host is
signed, with the public endpoint, and with the headers an upload must carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from minio import Minio

from lre_shared import objects
from lre_shared.presign import presign

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIFETIME = timedelta(minutes=5)
STORE = objects.Store("http://seaweed:8333", "AK", "SK", "us-east-1", public_endpoint="http://127.0.0.1:8333")


def test_a_presigned_url_signing_the_host_alone_is_the_minio_clients_own() -> None:
    client = Minio("127.0.0.1:8333", access_key="AK", secret_key="SK", secure=False, region="us-east-1")
    expected = client.get_presigned_url("PUT", "bucket", "uploads/x y", LIFETIME, request_date=NOW)

    ours = presign(
        "PUT",
        "http://127.0.0.1:8333",
        "bucket",
        "uploads/x y",
        access_key="AK",
        secret_key="SK",
        region="us-east-1",
        issued_at=NOW,
        expires=LIFETIME,
        headers={},
    )

    assert ours == expected


def test_a_download_link_is_signed_for_the_public_endpoint_as_minio_signs_it() -> None:
    public = Minio("127.0.0.1:8333", access_key="AK", secret_key="SK", secure=False, region="us-east-1")
    expected = public.presigned_get_object(
        "lre-evidence", "proofs/a b.pdf", expires=LIFETIME, request_date=NOW
    )

    assert STORE.link("GET", "lre-evidence", "proofs/a b.pdf", issued_at=NOW, expires=LIFETIME) == expected


def test_an_upload_url_names_if_none_match_among_its_signed_headers() -> None:
    url = STORE.link("PUT", "b", "k", issued_at=NOW, expires=LIFETIME, headers={"If-None-Match": "*"})

    assert url.startswith("http://127.0.0.1:8333/b/k?")
    assert "X-Amz-SignedHeaders=host%3Bif-none-match" in url


def test_a_store_never_shows_its_secret_key() -> None:
    assert "SK" not in repr(STORE)
