"""The SMTP mailer against a real aiosmtpd server with STARTTLS (a certificate made here)
and AUTH: the message as received, its DKIM signature, the reused connection, and what a
server that drops the connection or lacks STARTTLS gets."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim  # type: ignore[import-untyped]
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from deploy.local.demo import DEMO_SENDER
from deploy.local.mailcatcher import free_port
from lre_shared.contracts import NoticeKind
from notifier.adapters.channels import EmailChannel
from notifier.adapters.email import DkimKey, Email, SmtpMailer
from notifier.adapters.templates import render_notice
from notifier.domain.delivery import TransientDeliveryError
from notifier.domain.notice import Notice

pytestmark = pytest.mark.integration

MAIL_FROM = "notifications@lre.example"
USER, PASSWORD = "notifier", "s3cret-for-tests"
SELECTOR = "lre2026"


@dataclass
class Received:
    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    peer: Any
    tls: bool
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Keeper:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(
            Received(
                envelope.content,
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                session.peer,
                session.ssl is not None,
                login,
            )
        )
        return "250 OK"


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=data)


@dataclass(frozen=True)
class Pki:
    cert_file: Path
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext
    dkim_private_pem: bytes
    dkim_dns_record: bytes


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(cafile=str(cert_file))

    dkim_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = dkim_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_der = dkim_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)
    return Pki(cert_file, server_context, client_context, private_pem, record)


@dataclass(frozen=True)
class TlsSmtp:
    port: int
    keeper: Keeper


@pytest.fixture
def tls_smtp(pki: Pki) -> Iterator[TlsSmtp]:
    keeper = Keeper()
    port = free_port()
    controller = Controller(
        keeper,
        hostname="127.0.0.1",
        port=port,
        tls_context=pki.server_context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticate,
        timeout=1.0,  # idle connections are closed quickly: the pool must replace them
    )
    controller.start()
    yield TlsSmtp(port, keeper)
    controller.stop()


@pytest.fixture
async def mailer(tls_smtp: TlsSmtp, pki: Pki) -> AsyncIterator[SmtpMailer]:
    smtp = SmtpMailer(
        host="127.0.0.1",
        port=tls_smtp.port,
        sender=MAIL_FROM,
        starttls=True,
        username=USER,
        password=PASSWORD,
        timeout=5.0,
        pool_size=2,
        dkim_key=DkimKey(SELECTOR, "lre.example", pki.dkim_private_pem),
        tls_context=pki.client_context,
    )
    yield smtp
    await smtp.close()


def dns_for(pki: Pki) -> Any:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.lre.example.".encode()
        return pki.dkim_dns_record

    return dnsfunc


def unique_address() -> str:
    return f"destinataire-{uuid.uuid4().hex[:10]}@exemple.example"


async def test_a_notice_travels_over_starttls_with_auth_and_both_parts_and_no_sender_name(
    mailer: SmtpMailer, tls_smtp: TlsSmtp
) -> None:
    to, item = unique_address(), "123456789012"
    notice = render_notice(item, "https://lre.example/", date(2031, 3, 14))

    message_id = await mailer.send(Email(to, notice.subject, notice.text, notice.html))

    [received] = tls_smtp.keeper.received
    assert received.tls is True
    assert received.login == USER.encode()
    assert (received.mail_from, received.rcpt_tos) == (MAIL_FROM, [to])
    message = received.message
    assert message["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@lre.example>")
    assert message["Subject"] == "Une lettre recommandée électronique vous attend"
    assert message["From"] == MAIL_FROM
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert item in text.get_content() and "14/03/2031" in text.get_content()
    assert item in html.get_content() and 'href="https://lre.example/"' in html.get_content()
    assert "List-Unsubscribe" not in message
    raw = received.raw.decode()
    assert DEMO_SENDER.name not in raw
    assert DEMO_SENDER.email not in raw


async def test_the_dkim_signature_verifies_against_the_published_key(
    mailer: SmtpMailer, tls_smtp: TlsSmtp, pki: Pki
) -> None:
    notice = render_notice("123456789012", "https://lre.example/", date(2031, 3, 14))

    await mailer.send(Email(unique_address(), notice.subject, notice.text, notice.html))

    [received] = tls_smtp.keeper.received
    assert received.raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(received.raw, dnsfunc=dns_for(pki)) is True
    tampered = received.raw.replace(b"123456789012", b"123456789013")
    assert dkim.verify(tampered, dnsfunc=dns_for(pki)) is False


async def test_a_reminder_carries_a_signed_one_click_list_unsubscribe(
    mailer: SmtpMailer, tls_smtp: TlsSmtp, pki: Pki
) -> None:
    link = "https://notifier.lre.example/reminders/opt-out/tok123"
    notice = Notice(
        "123456789012", "https://lre.example/", date(2031, 3, 14), "en", NoticeKind.reminder, link
    )

    await EmailChannel(mailer).deliver(notice, unique_address())

    [received] = tls_smtp.keeper.received
    message = received.message
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Subject"] == "Reminder: a registered electronic letter awaits you"
    signature = message["DKIM-Signature"].replace(" ", "").replace("\r\n", "")
    assert "list-unsubscribe:list-unsubscribe-post" in signature
    assert dkim.verify(received.raw, dnsfunc=dns_for(pki)) is True


async def test_notices_reuse_one_connection(mailer: SmtpMailer, tls_smtp: TlsSmtp) -> None:
    for _ in range(3):
        await mailer.send(Email(unique_address(), "s", "t", "<p>h</p>"))

    assert len(tls_smtp.keeper.received) == 3
    assert len({r.peer for r in tls_smtp.keeper.received}) == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    mailer: SmtpMailer, tls_smtp: TlsSmtp
) -> None:
    await mailer.send(Email(unique_address(), "s", "t"))
    await asyncio.sleep(1.5)  # past the server's idle timeout: it closes the connection

    await mailer.send(Email(unique_address(), "s", "t"))

    assert len(tls_smtp.keeper.received) == 2
    assert len({r.peer for r in tls_smtp.keeper.received}) == 2


async def test_a_server_without_starttls_gets_nothing_when_starttls_is_required(pki: Pki) -> None:
    keeper = Keeper()
    port = free_port()
    controller = Controller(keeper, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = SmtpMailer(
            "127.0.0.1", port, MAIL_FROM, True, None, None, 5.0, tls_context=pki.client_context
        )
        with pytest.raises(TransientDeliveryError, match="STARTTLS"):
            await mailer.send(Email(unique_address(), "s", "t"))
    finally:
        controller.stop()
    assert keeper.received == []


async def test_a_server_that_drops_the_connection_gives_a_transient_error() -> None:
    async def greet_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 smtp.example ESMTP\r\n")
        await writer.drain()
        await reader.readline()
        writer.close()

    server = await asyncio.start_server(greet_then_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        mailer = SmtpMailer("127.0.0.1", port, MAIL_FROM, False, None, None, 5.0)
        with pytest.raises(TransientDeliveryError, match=r"SMTP 127\.0\.0\.1"):
            await mailer.send(Email(unique_address(), "s", "t"))
    finally:
        server.close()
        await server.wait_closed()
