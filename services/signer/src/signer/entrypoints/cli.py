"""`lre verify <bundle>`: check a letter's evidence offline, with one command.

Exit status 0 when every seal, timestamp, chain link, document hash and proof PDF's PAdES
seal holds; 1 when
anything fails, each failure named; 2 for a bundle that cannot be read.

`lre verify <bundle> --evidence-bucket lre-evidence`: also check that each record and seal of
the bundle is in the object-locked evidence bucket byte for byte, in compliance mode,
retained at least the configured retention after its event (endpoint and keys as the
signer's: `SIGNER_EVIDENCE_S3_ENDPOINT`, `SIGNER_EVIDENCE_S3_ACCESS_KEY`,
`SIGNER_EVIDENCE_S3_SECRET_KEY`; keys are never taken on the command line).

`lre export-bundle --letter <id> --out <dir or .zip>`: a letter's bundle from the signer's
journal (records, seals, proofs; documents given with `--document`, as the archive keeps
them), for the sender, or for `lre verify`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from uuid import UUID

import asyncpg
from asn1crypto import x509
from minio.error import S3Error
from pyhanko.keys import load_certs_from_pemder

from lre_shared import objects
from signer.adapters.bundle import load_bundle, read_bundle, write_bundle, write_zip
from signer.adapters.evidence_store import S3EvidenceStore
from signer.adapters.seal_check import check_proof, check_seal, proof_attachments
from signer.domain.verification import Bundle, Report
from signer.entrypoints.rotation import rotate
from signer.service_layer.archiving import check_bundle_archived
from signer.service_layer.verification import verify_bundle
from signer.settings import DEFAULT_EVIDENCE_RETENTION_DAYS


def repeated_files(command: argparse.ArgumentParser, flag: str, *, metavar: str, help: str) -> None:
    """An option naming files, given once per file."""
    command.add_argument(flag, type=Path, action="append", default=[], metavar=metavar, help=help)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lre", description="Electronic registered letter tools.")
    commands = root.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify",
        help="verify a letter's evidence bundle offline",
        description="Check every record's seal and RFC 3161 timestamp, the hash chain with no gap,"
        " that no record the letter's sealed checkpoint counts is missing, every document's SHA-256,"
        " and every proof PDF's PAdES seal.",
    )
    verify.add_argument("bundle", type=Path, help="a bundle directory or zip")
    repeated_files(
        verify,
        "--trust",
        metavar="PEM",
        help="trusted root certificate(s) for seals and timestamps (repeat as needed)",
    )
    repeated_files(
        verify,
        "--crl",
        metavar="FILE",
        help="CRL(s) (DER or PEM) to check each seal certificate against: revoked before the"
        " record's timestamp fails, revoked after it the record stays valid (repeat as needed)",
    )
    verify.add_argument(
        "--evidence-bucket",
        default=None,
        metavar="BUCKET",
        help="also check each record is in this object-locked bucket, byte for byte, in compliance"
        " mode (keys from $SIGNER_EVIDENCE_S3_ACCESS_KEY and $SIGNER_EVIDENCE_S3_SECRET_KEY)",
    )
    verify.add_argument(
        "--evidence-s3-endpoint",
        default=None,
        metavar="URL",
        help="S3 endpoint of the evidence bucket (default: $SIGNER_EVIDENCE_S3_ENDPOINT)",
    )
    verify.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help="the least retention each copy must have after its record's event time"
        f" (default: $SIGNER_EVIDENCE_RETENTION_DAYS, else {DEFAULT_EVIDENCE_RETENTION_DAYS} as the"
        " signer's default)",
    )
    rotation = commands.add_parser(
        "rotate-seal-key",
        help="check a new seal key end to end, then switch the signer's settings to it",
        description="Load the new key as the signer does, seal and timestamp a probe, verify it"
        " against the trusted roots; only then write the SIGNER_SEAL_* settings (to --env-file,"
        " or print them). Password: $SIGNER_SEAL_KEY_PASSWORD. Restart the signer afterwards.",
    )
    rotation.add_argument("--key-file", type=Path, required=True, help="the new key: PKCS#12, or PEM/DER")
    rotation.add_argument("--cert-file", type=Path, default=None, help="its certificate, for a PEM/DER key")
    repeated_files(rotation, "--chain", metavar="PEM", help="intermediate CA certificate(s)")
    repeated_files(
        rotation,
        "--trust",
        metavar="PEM",
        help="root(s) the new seal must chain to; give the old key's root too if it differs",
    )
    rotation.add_argument("--tsa-url", required=True, help="the RFC 3161 TSA the signer uses")
    rotation.add_argument("--env-file", type=Path, default=None, help="the signer's KEY=VALUE settings file")
    export = commands.add_parser(
        "export-bundle",
        help="export a letter's evidence bundle from the signer's database",
        description="Write a letter's records, seals and proof PDFs (and the documents given) as"
        " a bundle directory, or a zip when --out ends in .zip.",
    )
    export.add_argument("--letter", type=UUID, required=True, help="the letter id")
    export.add_argument("--out", type=Path, required=True, help="a new directory, or a .zip file")
    repeated_files(
        export,
        "--document",
        metavar="FILE",
        help="a document of the letter, as deposited, to include (repeat as needed)",
    )
    export.add_argument(
        "--database-url",
        default=None,
        help="the signer's PostgreSQL URL (default: $SIGNER_DATABASE_URL)",
    )
    return root


async def fetch_bundle(database_url: str, letter_id: UUID) -> Bundle:
    connection = await asyncpg.connect(database_url)
    try:
        return await load_bundle(connection, letter_id)
    finally:
        await connection.close()


def export_bundle(bundle: Bundle, out: Path, documents: Sequence[Path]) -> None:
    for document in documents:
        bundle.documents[document.name] = document.read_bytes()
    if out.suffix.lower() == ".zip":
        write_zip(out, bundle)
        return
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    write_bundle(out, bundle)


def export(args: argparse.Namespace) -> tuple[int, str]:
    url = args.database_url or os.environ.get("SIGNER_DATABASE_URL")
    if not url:
        return 2, "no database: give --database-url or set SIGNER_DATABASE_URL"
    try:
        bundle = asyncio.run(fetch_bundle(url, args.letter))
        if not bundle.records:
            return 1, f"no evidence on record for letter {args.letter}"
        export_bundle(bundle, args.out, args.document)
    except (OSError, asyncpg.PostgresError) as e:
        return 2, f"cannot export the bundle: {e}"
    return 0, (
        f"exported {len(bundle.records)} records and {len(bundle.proofs)} proofs"
        f" of letter {args.letter} to {args.out}"
    )


def render(heading: str, report: Report, *, verdict: str, passed: str) -> str:
    """The report as `lre` prints it: each check, then the verdict (`VERIFIED`, `NOT VERIFIED`)."""
    lines = [heading]
    lines += [f"  ok    {line}" for line in report.passed]
    lines += [f"  FAIL  {failure}" for failure in report.failures]
    lines += [f"  note  {note}" for note in report.notes]
    if report.ok:
        lines.append(f"{verdict}: {len(report.passed)} {passed}")
    else:
        lines.append(f"NOT {verdict}: {len(report.failures)} failure(s)")
    return "\n".join(lines)


def verify(bundle_path: Path, trust_files: Sequence[Path], crl_files: Sequence[Path] = ()) -> tuple[int, str]:
    try:
        bundle = read_bundle(bundle_path)
        roots: list[x509.Certificate] = list(load_certs_from_pemder([str(p) for p in trust_files]))  # type: ignore[no-untyped-call]
        crls = [p.read_bytes() for p in crl_files]
    except (OSError, ValueError) as e:
        return 2, f"cannot read the bundle or trust roots: {e}"
    report = asyncio.run(
        verify_bundle(
            bundle,
            partial(check_seal, trust_roots=roots, crls=crls),
            partial(check_proof, trust_roots=roots),
            proof_attachments,
        )
    )
    if not trust_files:
        report.fail("trust", "no trusted root given (--trust): no seal can be trusted")
    return (0 if report.ok else 1), render(
        f"Evidence bundle {bundle_path}", report, verdict="VERIFIED", passed="checks passed"
    )


def check_bucket(args: argparse.Namespace) -> tuple[int, str]:
    """The bundle's records against the evidence bucket (`--evidence-bucket`)."""
    endpoint = args.evidence_s3_endpoint or os.environ.get("SIGNER_EVIDENCE_S3_ENDPOINT")
    access_key = os.environ.get("SIGNER_EVIDENCE_S3_ACCESS_KEY")
    secret_key = os.environ.get("SIGNER_EVIDENCE_S3_SECRET_KEY")
    if not (endpoint and access_key and secret_key):
        return 2, (
            "cannot check the evidence bucket: give --evidence-s3-endpoint (or set"
            " SIGNER_EVIDENCE_S3_ENDPOINT) and set SIGNER_EVIDENCE_S3_ACCESS_KEY and"
            " SIGNER_EVIDENCE_S3_SECRET_KEY"
        )
    days = args.retention_days or int(
        os.environ.get("SIGNER_EVIDENCE_RETENTION_DAYS") or DEFAULT_EVIDENCE_RETENTION_DAYS
    )
    region = os.environ.get("SIGNER_EVIDENCE_S3_REGION") or "us-east-1"
    store = S3EvidenceStore(objects.Store(endpoint, access_key, secret_key, region), args.evidence_bucket)
    try:
        bundle = read_bundle(args.bundle)
        report = asyncio.run(check_bundle_archived(bundle, store, retention=timedelta(days=days)))
    except (OSError, ValueError, S3Error) as e:
        return 2, f"cannot check the evidence bucket {args.evidence_bucket}: {e}"
    if not bundle.records:
        report.fail("bundle", "holds no record to look up in the evidence bucket")
    heading = f"Evidence bucket {args.evidence_bucket} (retention at least {days} days)"
    return (0 if report.ok else 1), render(heading, report, verdict="ARCHIVED", passed="copies locked")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "export-bundle":
        status, text = export(args)
    elif args.command == "rotate-seal-key":
        status, text = rotate(
            args.key_file,
            cert_file=args.cert_file,
            chain_files=args.chain,
            trust_files=args.trust,
            tsa_url=args.tsa_url,
            env_file=args.env_file,
        )
    else:
        status, text = verify(args.bundle, args.trust, args.crl)
        if args.evidence_bucket:
            bucket_status, bucket_text = check_bucket(args)
            status, text = max(status, bucket_status), f"{text}\n{bucket_text}"
    print(text, file=sys.stdout if status == 0 else sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
