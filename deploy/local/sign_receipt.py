"""Sign a downloaded acknowledgement of receipt (AR) as the demo recipient, with the TEST
certificate `make run`'s PKI issued to them, as a desktop PDF signer would (PAdES, in the AR's
empty signature field, with a signature timestamp from the test TSA):

    uv run python -m deploy.local.sign_receipt ar_<item number>.pdf --out signed.pdf

then upload `signed.pdf` on the pickup site's "sign with your certificate" page. The
certificate (`var/pki/recipient.cert.pem`) names Camille Martin, the demo letter's recipient;
it is worth nothing outside this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.timestamps import HTTPTimeStamper

from deploy.local.platform import LocalPki
from deploy.local.stack import PKI_DIR, PKI_PORT


async def sign(pdf: bytes, pki_dir: Path, label: str, tsa_url: str | None) -> bytes:
    """`pdf` signed in its first empty signature field with the certificate `label` of the PKI
    in `pki_dir`, its intermediate CA embedded, timestamped by `tsa_url` when given."""
    empty = [name for name, _, _ in enumerate_sig_fields(PdfFileReader(BytesIO(pdf)), filled_status=False)]
    if not empty:
        raise SystemExit(
            "this PDF has no empty signature field: is it the AR downloaded from the pickup site?"
        )
    key = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(pki_dir / f"{label}.key.pem"),
        str(pki_dir / f"{label}.cert.pem"),
        ca_chain_files=[str(pki_dir / "interm.cert.pem")],
    )
    if key is None:
        raise SystemExit(f"the key or certificate {label} in {pki_dir} could not be read")
    output = await signers.async_sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name=empty[0]),
        signer=key,
        timestamper=HTTPTimeStamper(tsa_url) if tsa_url else None,
    )
    signed: bytes = output.getvalue()
    return signed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.sign_receipt", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("receipt", type=Path, help="the AR PDF downloaded from the pickup site")
    parser.add_argument("--out", type=Path, required=True, help="where to write the signed AR")
    parser.add_argument(
        "--pki-dir", type=Path, default=PKI_DIR, help=f"the test PKI's files (default {PKI_DIR})"
    )
    parser.add_argument(
        "--certificate", default="recipient", help="the certificate's label (default recipient)"
    )
    parser.add_argument(
        "--tsa-url",
        default=LocalPki(PKI_DIR, f"http://127.0.0.1:{PKI_PORT}").tsa_url,
        help="the TSA timestamping the signature; '' for none (then the signature is judged at upload)",
    )
    args = parser.parse_args(argv)
    for needed in (f"{args.certificate}.key.pem", f"{args.certificate}.cert.pem", "interm.cert.pem"):
        if not (args.pki_dir / needed).exists():
            raise SystemExit(f"{args.pki_dir / needed} is missing: start the platform with `make run` first")
    signed = asyncio.run(
        sign(args.receipt.read_bytes(), args.pki_dir, args.certificate, args.tsa_url or None)
    )
    args.out.write_bytes(signed)
    print(f"signed as {args.certificate} ({args.pki_dir / (args.certificate + '.cert.pem')}): {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
