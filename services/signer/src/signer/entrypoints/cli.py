"""`lre verify <bundle>`: check a letter's evidence offline, with one command.

Exit status 0 when every seal, timestamp, chain link, document hash and proof PDF's PAdES
seal holds; 1 when
anything fails, each failure named; 2 for a bundle that cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from asn1crypto import x509
from pyhanko.keys import load_certs_from_pemder

from signer.adapters.bundle import read_bundle
from signer.adapters.seal_check import check_proof, check_seal
from signer.domain.verification import Report
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
    return root


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
    status, text = verify(args.bundle, args.trust)
    print(text, file=sys.stdout if status == 0 else sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
