"""Evidence bundles: what the signer hands out and `lre verify` checks, offline.

A bundle is a directory, or a zip of one:

    records/0001.json   the record's exact stored bytes (canonical JSON, RFC 8785)
    records/0001.seal.json  its seal: batch statement, CAdES-T seal, inclusion proof (absent if unsealed)
    documents/<name>    the letter's documents, if included
    proofs/<name>.pdf   the proofs (deposit, receipt, refusal, non-claim, envelope), if included
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath
from uuid import UUID

import asyncpg

from signer.domain.verification import Bundle, StoredRecord

RECORDS = "records"
DOCUMENTS = "documents"
PROOFS = "proofs"


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
    return files


def write_zip(path: Path, bundle: Bundle) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(bundle_files(bundle).items()):
            archive.writestr(name, content)


def write_bundle(path: Path, bundle: Bundle) -> None:
    for record in bundle.records:
        target = path / record.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(record.body)
        if (seal := bundle.seals.get(record.name)) is not None:
            (path / seal_name(record.name)).write_bytes(seal)
    for folder, files in ((DOCUMENTS, bundle.documents), (PROOFS, bundle.proofs)):
        for name, content in files.items():
            target = path / folder / PurePosixPath(name).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


async def load_bundle(pool: asyncpg.Pool | asyncpg.Connection, letter_id: UUID) -> Bundle:
    """A letter's records and seals from the signer's journal, in chain order, and its proofs.
    The documents are the archive's: a bundle from here holds their SHA-256 (in the records),
    not the files."""
    bundle = Bundle()
    rows = await pool.fetch(
        "SELECT seq, record, seal FROM evidence WHERE letter_id = $1 ORDER BY seq", letter_id
    )
    for row in rows:
        name = record_name(row["seq"])
        bundle.records.append(StoredRecord(name, bytes(row["record"])))
        if row["seal"] is not None:
            bundle.seals[name] = bytes(row["seal"])
    for row in await pool.fetch("SELECT filename, pdf FROM proofs WHERE letter_id = $1", letter_id):
        bundle.proofs[row["filename"]] = bytes(row["pdf"])
    return bundle
