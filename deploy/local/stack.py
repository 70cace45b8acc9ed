"""The whole platform on one machine, in one command, and a second one to stop it.

    python -m deploy.local.stack up     # infrastructure, five services, a demo letter
    python -m deploy.local.stack down   # stops everything `up` started

RabbitMQ and PostgreSQL are the machine's own (started here if they are not running);
SeaweedFS (S3), the SMTP catcher and the services are started by `up`, with their data,
logs and secrets under `var/` in the project.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path
from uuid import uuid4

from deploy.local import pki, platform
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.oidc import LocalOidc, start_oidc
from deploy.local.prism import start_prism
from deploy.local.seaweed import start_seaweed, stop_seaweed
from lre_shared.contracts import Document, NoticeChannel, SubmitLetter
from lre_shared.sender import submit_letter

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
STATE = VAR / "run" / "stack.json"
SECRETS = VAR / "secrets.json"
MAIL_DIR = VAR / "mail"
LOGS = VAR / "log"

AMQP_URL = os.environ.get("LRE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_URL = os.environ.get("LRE_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
SERVICE_BASE_PORT = 8100  # pickup 8100, archive 8101, notifier 8102, signer 8103, verification 8104
SEAWEED_BASE_PORT = 8330  # S3 on 8330; see deploy/local/seaweed.py for the rest
SMTP_PORT = 2525
PKI_PORT = 8320  # the signer's TEST-ONLY PKI (certomancer: CA, TSA, OCSP, CRL)
PKI_DIR = VAR / "pki"
PRISM_PORT = 8310  # Twilio's API (SMS, calls) as Prism serves it from Twilio's description
# The OpenID provider agents sign in to the desk console with (and recipients prove who they
# are with on the pickup site): above SeaweedFS's 8330-8340, below its 18338.
OIDC_PORT = 8350
OIDC_DIR = VAR / "oidc"
DKIM_KEY = VAR / "dkim" / "lre-local.pem"  # the notices' DKIM key, generated at first run
BROKER_ADMIN_URL = os.environ.get("LRE_RABBITMQ_ADMIN_URL", "http://127.0.0.1:15672")
# The demo sender system's broker user, as `lre-senders add` handed it over (mode 600).
SENDER_CREDENTIALS = VAR / "senders" / f"{DEMO_SENDER.id}.url"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ensure_local_engines() -> None:
    """RabbitMQ and PostgreSQL run on the machine; start them if they are stopped."""
    if not _port_open(5672):
        print("starting RabbitMQ …")
    # Starts it if stopped; either way enables the management plugin `lre-senders` needs.
    subprocess.run(["bash", str(Path(__file__).with_name("start-rabbitmq.sh"))], check=True)
    if not _port_open(5432):
        print("starting PostgreSQL …")
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True)
    for port, name in ((5672, "RabbitMQ"), (5432, "PostgreSQL")):
        for _ in range(120):
            if _port_open(port):
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{name} does not answer on 127.0.0.1:{port}")


def _secrets() -> dict[str, str]:
    """The local platform's secrets, made once and kept in `SECRETS` (mode 600); those a newer
    version needs are added to an older file."""
    values: dict[str, str] = dict(json.loads(SECRETS.read_text())) if SECRETS.exists() else {}
    made: dict[str, Callable[[], str]] = {
        "s3_access_key": lambda: "lre" + secrets.token_hex(8),
        "s3_secret_key": lambda: secrets.token_urlsafe(32),
        "session_secret": lambda: secrets.token_urlsafe(48),
        # The identity provider's confidential clients: the desk console, the pickup site.
        "desk_client_secret": lambda: secrets.token_urlsafe(32),
        "pickup_client_secret": lambda: secrets.token_urlsafe(32),
        "twilio_auth_token": lambda: secrets.token_hex(16),
        # Encrypts the webhook secrets the archive keeps: it must outlive the database.
        "webhook_secrets_key": lambda: secrets.token_urlsafe(32),
    }
    missing = {name: make() for name, make in made.items() if name not in values}
    if missing or not SECRETS.exists():
        values |= missing
        SECRETS.parent.mkdir(parents=True, exist_ok=True)
        tmp = SECRETS.with_name(SECRETS.name + ".tmp")
        tmp.touch(mode=0o600)
        tmp.chmod(0o600)
        tmp.write_text(json.dumps(values))
        os.replace(tmp, SECRETS)
    return values


def _latest_notice(item_after: float, timeout: float = 60.0) -> tuple[Path, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(MAIL_DIR.glob("*.eml"), reverse=True):
            if path.stat().st_mtime < item_after:
                continue
            message = BytesParser(policy=policy.default).parse(path.open("rb"))
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            for line in text.splitlines():
                if line.startswith("Numéro de pli"):
                    return path, line.split(":", 1)[1].strip()
        time.sleep(0.3)
    raise SystemExit(f"no notice arrived in {MAIL_DIR} within {timeout:.0f} s; see {LOGS}")


def _demo_sender(config: platform.PlatformConfig) -> str:
    """The demo sender system's own broker user, made by `lre-senders add` (a new password when
    it exists already); returns its AMQP URL, which the command wrote to `SENDER_CREDENTIALS`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    env |= platform.service_environment(config, "archive")
    script = Path(sys.executable).with_name("lre-senders")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "archive.entrypoints.admin"]
    to_file = ["--credentials-file", str(SENDER_CREDENTIALS)]

    def senders(*arguments: str) -> int:
        with (LOGS / "lre-senders.log").open("ab") as log:
            return subprocess.run(
                [*command, *arguments], env=env, stdout=log, stderr=log, check=False
            ).returncode

    name = ["--name", DEMO_SENDER.name]
    if (
        senders("add", DEMO_SENDER.id, *name, *to_file) != 0
        and senders("password", DEMO_SENDER.id, *to_file) != 0
    ):
        # Recorded, but its broker user is gone (another broker, a wiped one): made again.
        senders("remove", DEMO_SENDER.id)
        if senders("add", DEMO_SENDER.id, *name, *to_file) != 0:
            raise SystemExit(
                f"lre-senders could not make the demo sender's broker user; see {LOGS / 'lre-senders.log'}"
            )
    return SENDER_CREDENTIALS.read_text().strip()


def _start_pki() -> subprocess.Popen[bytes]:
    """certomancer serving the test PKI; its certificates are written before it listens."""
    with (LOGS / "pki.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy.local.pki", "--dir", str(PKI_DIR), "--port", str(PKI_PORT)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    for _ in range(120):
        if _port_open(PKI_PORT):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.25)
    raise SystemExit(f"the test PKI does not answer on 127.0.0.1:{PKI_PORT}; see {LOGS / 'pki.log'}")


def up() -> None:
    if STATE.exists():
        print("the platform seems to be running already; stopping it first")
        down()
    _ensure_local_engines()
    for folder in (VAR / "s3", MAIL_DIR, LOGS, STATE.parent):
        folder.mkdir(parents=True, exist_ok=True)
    keys = _secrets()
    state: dict[str, int] = {}

    def save() -> None:
        STATE.write_text(json.dumps(state))

    try:
        s3, weed = start_seaweed(
            VAR / "s3", SEAWEED_BASE_PORT, keys["s3_access_key"], keys["s3_secret_key"], LOGS / "seaweed.log"
        )
        state["seaweed"] = weed.pid
        save()
        with (LOGS / "mail.log").open("ab") as log:
            mail = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "deploy.local.mailcatcher",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(SMTP_PORT),
                    "--dir",
                    str(MAIL_DIR),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        state["mail"] = mail.pid
        save()
        state["pki"] = _start_pki().pid
        save()
        state["prism"] = start_prism(PRISM_PORT, LOGS / "prism.log", detach=True).pid
        save()
        oidc = LocalOidc(OIDC_PORT, keys["desk_client_secret"], keys["pickup_client_secret"])
        config = platform.PlatformConfig(
            infra=platform.Infrastructure(
                amqp_url=AMQP_URL,
                postgres_url=POSTGRES_URL,
                s3_endpoint=s3.endpoint,
                s3_access_key=s3.access_key,
                s3_secret_key=s3.secret_key,
                smtp_host="127.0.0.1",
                smtp_port=SMTP_PORT,
            ),
            database_prefix="lre",
            ports=platform.default_ports(SERVICE_BASE_PORT),
            session_secret=keys["session_secret"],
            webhook_secrets_key=keys["webhook_secrets_key"],
            # The signer seals with the test PKI (its records and proofs say "non qualifié") and
            # trusts its root for the AR signed with a personal certificate.
            pki=pki.local_pki(PKI_DIR, PKI_PORT),
            twilio_base_url=f"http://127.0.0.1:{PRISM_PORT}",
            twilio_auth_token=keys.setdefault("twilio_auth_token", secrets.token_hex(16)),
            dkim_key_file=DKIM_KEY,
            broker_admin_url=BROKER_ADMIN_URL,
            oidc=oidc,
        )
        # Both clients, the desk console's and the pickup site's, with this platform's URLs.
        state["oidc"] = start_oidc(
            OIDC_PORT, config.oidc_clients(), OIDC_DIR, LOGS / "oidc.log", detach=True
        ).pid
        save()
        processes = {}
        for service in platform.SERVICES:
            processes[service] = platform.start_service(config, service, LOGS / f"{service}.log", detach=True)
            state[service] = processes[service].pid
            save()
        for service, process in processes.items():
            platform.wait_ready(config.ports[service], process, log_path=LOGS / f"{service}.log")
    except BaseException:
        down()
        raise

    sent_at = time.time() - 1
    command = SubmitLetter(
        correlation_id=uuid4(),
        sender=DEMO_SENDER,
        # Every channel at work: the notice by email, an SMS, a call and a fax as alerts.
        recipient=DEMO_RECIPIENT.model_copy(
            update={"mobile": "+33612345678", "landline": "+33142680000", "fax": "+33142680001"}
        ),
        main_document=Document(filename="lettre-demo.pdf", content=demo_pdf()),
        alert_channels=(NoticeChannel.email, NoticeChannel.sms, NoticeChannel.voice, NoticeChannel.fax),
    )
    # Deposited by the demo sender system as it would: with its own broker user.
    asyncio.run(submit_letter(_demo_sender(config), command))
    notice, item_number = _latest_notice(sent_at)
    r = DEMO_RECIPIENT
    desk = platform.service_environment(config, "verification")
    desk_url = f"http://127.0.0.1:{config.ports['verification']}/"
    desk_smtp = desk["VERIFICATION_INBOUND_SMTP_PORT"]
    print(
        f"""
The platform is running.

  Pickup site      {config.pickup_url}
  Item number      {item_number}
  Notice email     {notice}
  All emails       {MAIL_DIR}/ (one .eml file each), DKIM-signed; public key record in
                   {DKIM_KEY}.dns.txt
  SMS and calls    sent to Twilio's API as Prism serves it: every request in {LOGS / "prism.log"}
                   (ask for them with alert_channels sms, voice; the recipient's mobile or landline)
  Faxes            emails to <number>@fax.localhost in {MAIL_DIR}/, the notice as a PDF
                   (alert_channels fax; the recipient's fax number)
  Sender system    {DEMO_SENDER.id}: its own broker user (`lre-senders add`), AMQP URL with its
                   password in {SENDER_CREDENTIALS}
  Identity to type {r.company} / {r.last_name} / {r.first_name} / {r.address} / {r.postcode} / {r.city}
  Logs             {LOGS}/
  S3 (SeaweedFS)   {s3.endpoint}  (keys in {SECRETS})
  Evidence         sealed with the TEST PKI ("non qualifié"); trust root {PKI_DIR}/root.cert.pem
  Sign the AR      with {r.first_name} {r.last_name}'s TEST certificate: accept the letter, download the
                   AR on the "sign with your certificate" page, then
                   uv run python -m deploy.local.sign_receipt ar_{item_number}.pdf --out signed.pdf
                   and upload signed.pdf (PAdES, timestamped by the test TSA; certificate
                   {PKI_DIR}/recipient.cert.pem, key beside it)
  Support desk     {desk_url}desk/  (JSON API under {desk_url}desk/api)
  Desk sign-in     with the test identity provider {oidc.issuer}: agent / agent-test (role agent),
                   supervisor / supervisor-test (roles agent, supervisor); its log {LOGS / "oidc.log"}
  Desk inbound     identity documents by email to SMTP 127.0.0.1:{desk_smtp}

Stop everything with: make stop
"""
    )


def down() -> None:
    if not STATE.exists():
        print("nothing to stop")
        return
    state = json.loads(STATE.read_text())
    for service in platform.SERVICES:
        if service in state:
            platform.stop_process(state[service])
    if "mail" in state:
        platform.stop_process(state["mail"], timeout=5)
    if "pki" in state:
        platform.stop_process(state["pki"], timeout=5)
    if "prism" in state:
        platform.stop_process(state["prism"], timeout=5)
    if "oidc" in state:
        platform.stop_process(state["oidc"], timeout=5)
    if "seaweed" in state:
        stop_seaweed(state["seaweed"])
    STATE.unlink()
    print("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.stack")
    parser.add_argument("command", choices=("up", "down"))
    args = parser.parse_args(argv)
    if shutil.which("rabbitmq-server") is None and not _port_open(5672):
        raise SystemExit("RabbitMQ is neither running on 127.0.0.1:5672 nor installed")
    up() if args.command == "up" else down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
