"""`lre rotate-seal-key`: check a new seal key end to end, then switch the signer's settings to it.

The signer loads its seal key once, at start (docs/OPERATIONS.md, seal-key rotation). A key
that cannot seal stops the start; this command finds out before the restart: it loads the
new key as the signer does, seals a probe with it, has the probe timestamped by the TSA, and
verifies that seal against the trusted roots exactly as `lre verify` would. Only then does it
write the new `SIGNER_SEAL_*` settings (to `--env-file`, or to standard output for a Secret),
keeping every root already trusted: records sealed with the old key stay verifiable.

Records sealed before the rotation keep their seals, certificates and timestamps; a bundle
mixing both keys verifies given the root(s) both chain to. Revoke the old certificate only
after the restart: a record timestamped before the revocation date stays valid (see
`adapters/seal_check.py`), one timestamped after it does not.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import x509
from pyhanko.keys import load_certs_from_pemder

from signer.adapters.seal_check import check_seal
from signer.adapters.sealing import CadesSealer, SealKeyError, load_signer, timestamper
from signer.domain.verification import Report, StoredRecord

PROBE = b'{"probe":"lre rotate-seal-key"}'


def seal_settings(
    key_file: Path, cert_file: Path | None, chain_files: Sequence[Path], root_files: Sequence[Path]
) -> dict[str, str]:
    """The signer's settings for the new key (PKCS#11 settings, if any, must be removed)."""
    values = {
        "SIGNER_SEAL_KEY_FILE": str(key_file.resolve()),
        "SIGNER_SEAL_CHAIN_FILES": json.dumps([str(p.resolve()) for p in chain_files]),
        "SIGNER_SEAL_ROOT_FILES": json.dumps([str(p.resolve()) for p in root_files]),
    }
    if cert_file is not None:
        values["SIGNER_SEAL_CERT_FILE"] = str(cert_file.resolve())
    return values


def update_env_file(path: Path, values: dict[str, str]) -> None:
    """Replace (or add) the given settings in a KEY=VALUE file, keeping every other line and
    every seal root already listed there."""
    lines = path.read_text().splitlines() if path.exists() else []
    current = dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    if (old_roots := current.get("SIGNER_SEAL_ROOT_FILES")) is not None:
        kept = [
            r
            for r in json.loads(old_roots.strip("'\""))
            if r not in json.loads(values["SIGNER_SEAL_ROOT_FILES"])
        ]
        values = values | {
            "SIGNER_SEAL_ROOT_FILES": json.dumps(kept + json.loads(values["SIGNER_SEAL_ROOT_FILES"]))
        }
    written = set()
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if key.startswith("SIGNER_SEAL_PKCS11_"):
            continue  # one seal key: the new file replaces an HSM-held one
        if key in values:
            out.append(f"{key}='{values[key]}'")
            written.add(key)
        else:
            out.append(line)
    out += [f"{key}='{value}'" for key, value in values.items() if key not in written]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(out) + "\n")
    os.replace(tmp, path)


async def probe_seal(sealer: CadesSealer, roots: Sequence[x509.Certificate]) -> Report:
    try:
        seal = await sealer.seal(PROBE)
    finally:
        await sealer.close()
    return await check_seal(StoredRecord("probe", PROBE), seal, claims_sealed=True, trust_roots=roots)


def rotate(
    key_file: Path,
    *,
    cert_file: Path | None,
    chain_files: Sequence[Path],
    trust_files: Sequence[Path],
    tsa_url: str,
    env_file: Path | None,
) -> tuple[int, str]:
    password = os.environ.get("SIGNER_SEAL_KEY_PASSWORD")
    try:
        signer = load_signer(
            key_file,
            cert_file=cert_file,
            chain_files=tuple(chain_files),
            password=None if password is None else password.encode(),
        )
        roots: list[x509.Certificate] = list(load_certs_from_pemder([str(p) for p in trust_files]))  # type: ignore[no-untyped-call]
    except (SealKeyError, OSError, ValueError) as e:
        return 2, f"the new seal key cannot be loaded: {e}; nothing changed"
    if not roots:
        return 2, "no trusted root given (--trust): the new seal cannot be checked; nothing changed"
    report = asyncio.run(probe_seal(CadesSealer(signer, timestamper(tsa_url)), roots))
    lines = [f"New seal key {key_file}"]
    lines += [f"  ok    {line}" for line in report.passed]
    lines += [f"  FAIL  {failure}" for failure in report.failures]
    if not report.ok:
        lines.append("NOT ROTATED: the new key's probe seal does not verify; nothing changed")
        return 1, "\n".join(lines)
    values = seal_settings(key_file, cert_file, chain_files, trust_files)
    if env_file is not None:
        update_env_file(env_file, values)
        lines.append(f"ROTATED: {env_file} names the new key; restart the signer to seal with it")
    else:
        lines.append(
            "READY: set these settings (e.g. in the lre-signer-seal Secret), then restart the signer:"
        )
        lines += [f"{key}='{value}'" for key, value in values.items()]
    lines.append(
        "Revoke the old certificate only after the restart: records timestamped before it stay valid."
    )
    return 0, "\n".join(lines)
