"""What the signer's use cases need from the outside world."""

from __future__ import annotations

from typing import Protocol

from signer.domain.evidence import SealAssurance
from signer.domain.proofs import ProofContent


class EvidenceSealer(Protocol):
    """Seals evidence records with the provider's key and an RFC 3161 timestamp."""

    @property
    def assurance(self) -> SealAssurance:
        """What this sealer's seals are worth; written into each record before sealing."""
        ...

    async def seal(self, record: bytes) -> bytes | None:
        """The record's seal (a `RecordSeal`: its batch's CAdES-T seal and its inclusion
        proof); None when unsealed."""
        ...


class ProofSealer(Protocol):
    """Renders a proof PDF and seals it PAdES (B-LT, or B-LTA) with the provider's key."""

    async def seal_proof(self, content: ProofContent) -> bytes: ...
