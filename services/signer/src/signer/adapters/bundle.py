"""Evidence bundles: what the signer hands out and `lre verify` checks, offline.

A bundle is a directory, or a zip of one:

    records/0001.json   the record's exact stored bytes (canonical JSON, RFC 8785)
    records/0001.seal.json  its seal: batch statement, CAdES-T seal, inclusion proof (absent if unsealed)
    documents/<name>    the letter's documents, if included
    proofs/<name>.pdf   the proofs (deposit, receipt, refusal, non-claim, envelope), if included
    checkpoint.json     the letter's latest checkpoint: where its chain ends (once its fate is settled)
    checkpoint.seal.json  its seal, as a record's
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath
from uuid import UUID

import asyncpg

from signer.domain.verification import Bundle, StoredRecord

RECORDS = "records"
DOCUMENTS = "documents"
PROOFS = "proofs"
CHECKPOINT = "checkpoint.json"
CHECKPOINT_SEAL = "checkpoint.seal.json"


def record_name(seq: int) -> str:
    return f"{RECORDS}/{seq:04d}.json"


def seal_name(record: str) -> str:
    return record.removesuffix(".json") + ".seal.json"


def _files(path: Path) -> dict[str, bytes]:
    """Relative POSIX path → content, from a directory or a zip (read in memory, no extraction)."""
    if path.is_dir():
        return {
            file.relative_to(path).as_posix(): file.read_bytes() for file in path.rglob("*") if file.is_file()
        }
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            files = {}
            for info in archive.infolist():
                if info.is_dir():
                    continue
                parts = PurePosixPath(info.filename).parts
                # a zip made of the directory itself: drop its top folder
                if len(parts) > 2 and parts[-2] in {RECORDS, DOCUMENTS, PROOFS}:
                    parts = parts[-2:]
                elif len(parts) == 2 and parts[-1] in {CHECKPOINT, CHECKPOINT_SEAL}:
                    parts = parts[-1:]
                files["/".join(parts)] = archive.read(info)
            return files
    raise FileNotFoundError(f"{path}: not a directory or a zip file")


def read_bundle(path: Path) -> Bundle:
    bundle = Bundle()
    files = _files(path)
    for name in sorted(files):
        folder, _, leaf = name.partition("/")
        if folder == RECORDS and leaf.endswith(".json") and not leaf.endswith(".seal.json"):
            bundle.records.append(StoredRecord(name, files[name]))
            if (seal := files.get(seal_name(name))) is not None:
                bundle.seals[name] = seal
        elif folder == DOCUMENTS and leaf:
            bundle.documents[leaf] = files[name]
        elif folder == PROOFS and leaf.endswith(".pdf"):
            bundle.proofs[leaf] = files[name]
    bundle.checkpoint = files.get(CHECKPOINT)
    bundle.checkpoint_seal = files.get(CHECKPOINT_SEAL)
    return bundle


def bundle_files(bundle: Bundle) -> dict[str, bytes]:
    """Relative POSIX path → content, as laid out in a bundle."""
    files: dict[str, bytes] = {}
    for record in bundle.records:
        files[record.name] = record.body
        if (seal := bundle.seals.get(record.name)) is not None:
            files[seal_name(record.name)] = seal
    for folder, named in ((DOCUMENTS, bundle.documents), (PROOFS, bundle.proofs)):
        for name, content in named.items():
            files[f"{folder}/{PurePosixPath(name).name}"] = content
    for top, optional in ((CHECKPOINT, bundle.checkpoint), (CHECKPOINT_SEAL, bundle.checkpoint_seal)):
        if optional is not None:
            files[top] = optional
    return files


def write_zip(path: Path, bundle: Bundle) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(bundle_files(bundle).items()):
            archive.writestr(name, content)


def zip_bytes(bundle: Bundle) -> bytes:
    """The bundle as a zip, in memory: what `write_zip` writes, for a download."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(bundle_files(bundle).items()):
            archive.writestr(name, content)
    return buffer.getvalue()


def write_bundle(path: Path, bundle: Bundle) -> None:
    for name, content in bundle_files(bundle).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


async def load_bundle(pool: asyncpg.Pool | asyncpg.Connection, letter_id: UUID) -> Bundle:
    """A letter's records and seals from the signer's journal, in chain order, and its proofs.
    The documents are the archive's: a bundle from here holds their SHA-256 (in the records),
    not the files."""
    bundle = Bundle()
    # One statement, one snapshot: the records and the checkpoint stored with the last of them.
    rows = await pool.fetch(
        "SELECT 'record' AS kind, seq, record, seal FROM evidence WHERE letter_id = $1"
        " UNION ALL SELECT 'checkpoint', size, statement, seal FROM letter_checkpoints WHERE letter_id = $1"
        " ORDER BY kind DESC, seq",
        letter_id,
    )
    for row in rows:
        if row["kind"] == "checkpoint":
            bundle.checkpoint = bytes(row["record"])
            bundle.checkpoint_seal = None if row["seal"] is None else bytes(row["seal"])
            continue
        name = record_name(row["seq"])
        bundle.records.append(StoredRecord(name, bytes(row["record"])))
        if row["seal"] is not None:
            bundle.seals[name] = bytes(row["seal"])
    for row in await pool.fetch("SELECT filename, pdf FROM proofs WHERE letter_id = $1", letter_id):
        bundle.proofs[row["filename"]] = bytes(row["pdf"])
    return bundle
