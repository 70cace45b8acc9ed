"""`lre verify <bundle>`: check a letter's evidence offline, with one command.

Exit status 0 when every seal, timestamp, chain link, document hash and proof PDF's PAdES
seal holds; 1 when
anything fails, each failure named; 2 for a bundle that cannot be read.

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
from functools import partial
from pathlib import Path
from uuid import UUID

import asyncpg
from asn1crypto import x509
from pyhanko.keys import load_certs_from_pemder

from signer.adapters.bundle import load_bundle, read_bundle, write_bundle, write_zip
from signer.adapters.seal_check import check_proof, check_seal
from signer.domain.verification import Bundle, Report
from signer.service_layer.verification import verify_bundle


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lre", description="Electronic registered letter tools.")
    commands = root.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify",
        help="verify a letter's evidence bundle offline",
        description="Check every record's seal and RFC 3161 timestamp, the hash chain with no gap,"
        " every document's SHA-256, and every proof PDF's PAdES seal.",
    )
    verify.add_argument("bundle", type=Path, help="a bundle directory or zip")
    verify.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="trusted root certificate(s) for seals and timestamps (repeat as needed)",
    )
    export = commands.add_parser(
        "export-bundle",
        help="export a letter's evidence bundle from the signer's database",
        description="Write a letter's records, seals and proof PDFs (and the documents given) as"
        " a bundle directory, or a zip when --out ends in .zip.",
    )
    export.add_argument("--letter", type=UUID, required=True, help="the letter id")
    export.add_argument("--out", type=Path, required=True, help="a new directory, or a .zip file")
    export.add_argument(
        "--document",
        type=Path,
        action="append",
        default=[],
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


def render(report: Report, bundle: Path) -> str:
    lines = [f"Evidence bundle {bundle}"]
    lines += [f"  ok    {line}" for line in report.passed]
    lines += [f"  FAIL  {failure}" for failure in report.failures]
    if report.ok:
        lines.append(f"VERIFIED: {len(report.passed)} checks passed")
    else:
        lines.append(f"NOT VERIFIED: {len(report.failures)} failure(s)")
    return "\n".join(lines)


def verify(bundle_path: Path, trust_files: Sequence[Path]) -> tuple[int, str]:
    try:
        bundle = read_bundle(bundle_path)
        roots: list[x509.Certificate] = list(load_certs_from_pemder([str(p) for p in trust_files]))  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as e:
        return 2, f"cannot read the bundle or trust roots: {e}"
    report = asyncio.run(
        verify_bundle(bundle, partial(check_seal, trust_roots=roots), partial(check_proof, trust_roots=roots))
    )
    if not trust_files:
        report.fail("trust", "no trusted root given (--trust): no seal can be trusted")
    return (0 if report.ok else 1), render(report, bundle_path)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "export-bundle":
        status, text = export(args)
    else:
        status, text = verify(args.bundle, args.trust)
    print(text, file=sys.stdout if status == 0 else sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
