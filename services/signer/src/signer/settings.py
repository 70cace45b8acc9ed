"""The signer's settings (environment prefix `SIGNER_`).

Sealing is configured by a seal key and a TSA URL. The key is a file (PKCS#12, or PEM key +
certificate), or is held in an HSM and used through PKCS#11 (module, token label, PIN, key
label; the certificate is read from the token).
Without a seal key the signer runs UNSEALED: it logs so at start and every record says so
("non scellé — aucune clé de scellement configurée"). A seal key without a TSA is refused:
a seal with no trusted time is not evidence of when anything happened.

`SIGNER_QUALIFIED=true` fails closed: a qualified service (eIDAS art. 44, CPCE R.53-1) needs
an HSM-held key (PKCS#11) and a TSA declared qualified; the signer refuses to start
otherwise, rather than issue evidence that claims more than it is.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from lre_shared.objects import EVIDENCE_BUCKET
from lre_shared.rules import FR_LRE
from lre_shared.settings import ServiceSettings

# The evidence bucket locks each copy one day past the rules profile's minimum (R.53-2/R.53-3:
# at least a year): a year that spans a 29 February is 366 days, and a copy checked the day
# after it was made must still have more than the minimum ahead of it.
EVIDENCE_LOCK_MARGIN_DAYS = 1
DEFAULT_EVIDENCE_RETENTION_DAYS = FR_LRE.evidence_retention_days + EVIDENCE_LOCK_MARGIN_DAYS


class SignerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNER_", extra="ignore", frozen=True)

    http_port: int = 8103
    policy_id: str = "urn:lre:policy:fr_lre:v1"
    # The provider every proof names (with `policy_id` and whether its seal is qualified).
    provider_legal_name: str | None = Field(default=None, description="The provider's legal name.")
    provider_registration: str | None = Field(
        default=None, description='The provider\'s registration number, e.g. "RCS Paris 123 456 789".'
    )
    provider_address: str | None = Field(default=None, description="The provider's registered address.")

    seal_key_file: Path | None = Field(
        default=None,
        description="The provider's seal key: a PKCS#12 file (.p12/.pfx) or a PEM/DER private key.",
    )
    seal_cert_file: Path | None = Field(
        default=None, description="The seal certificate (PEM/DER), when the key is a PEM/DER file."
    )
    seal_chain_files: tuple[Path, ...] = Field(
        default=(), description="Intermediate CA certificates to embed with each seal."
    )
    seal_key_password: SecretStr | None = None
    seal_pkcs11_module: Path | None = Field(
        default=None,
        description="PKCS#11 module (shared library) of the HSM holding the seal key, instead of a key file.",
    )
    seal_pkcs11_token_label: str | None = Field(default=None, description="Label of the HSM token.")
    seal_pkcs11_pin: SecretStr | None = Field(default=None, description="User PIN of the HSM token.")
    seal_pkcs11_key_label: str | None = Field(default=None, description="Label of the seal key on the token.")
    seal_pkcs11_cert_label: str | None = Field(
        default=None, description="Label of the seal certificate on the token (default: the key's label)."
    )
    tsa_url: str | None = Field(default=None, description="RFC 3161 time-stamping authority URL.")
    tsa_qualified: bool = Field(default=False, description="The TSA is a qualified one (eIDAS art. 42).")
    qualified: bool = Field(
        default=False, description="Run as a qualified service: refuses to start without HSM and QTSA."
    )

    seal_root_files: tuple[Path, ...] = Field(
        default=(),
        description="Root certificate(s) the seal certificate chains to. With a seal key, proof PDFs"
        " (deposit, receipt, refusal) are issued on events, sealed PAdES B-LT with the chain's"
        " OCSP responses and CRLs embedded; without a root no proof PDF is issued.",
    )
    proof_lta: bool = Field(default=False, description="Seal proof PDFs PAdES B-LTA instead of B-LT.")
    receipt_trust_root_files: tuple[Path, ...] = Field(
        default=(),
        description="Root certificates recipients' personal certificates may chain to, for signed"
        " acknowledgements of receipt (AR), and of the TSAs whose signature timestamps date those"
        " signatures: PEM bundles (several certificates a file) or DER files. None: every signed"
        " AR is refused as untrusted.",
    )

    evidence_s3_endpoint: str | None = Field(
        default=None,
        description="S3 endpoint of the evidence bucket; unset: evidence stays in PostgreSQL only.",
    )
    evidence_s3_public_endpoint: str | None = Field(
        default=None,
        description="S3 endpoint as sender systems reach it, for the proof and bundle download"
        " links (the archive's ARCHIVE_S3_PUBLIC_ENDPOINT; default: evidence_s3_endpoint).",
    )
    evidence_s3_access_key: SecretStr | None = None
    evidence_s3_secret_key: SecretStr | None = None
    evidence_s3_region: str = "us-east-1"
    evidence_bucket: str = Field(default=EVIDENCE_BUCKET, description="Created with object lock if missing.")
    evidence_retention_days: int = Field(
        default=DEFAULT_EVIDENCE_RETENTION_DAYS,
        ge=FR_LRE.evidence_retention_days,
        description="Compliance-mode retention of each record (DESIGN §3: at least a year).",
    )
    evidence_archive_poll_seconds: float = Field(default=1.0, gt=0)
    exports_bucket: str = Field(
        default="lre-exports",
        description="Bucket (no object lock) for proofs and evidence bundles handed out on demand;"
        " created with a lifecycle rule deleting each export after a day.",
    )
    proof_render_processes: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Processes that render proof PDFs beside the service's own (which seals them);"
        " 0: rendered on the sealing thread. One uses a second core; more, more cores.",
    )
    proof_link_seconds: int = Field(
        default=300, ge=10, le=3600, description="How long a proof's or bundle's download link is valid."
    )
    log_tree_head_seconds: float | None = Field(
        default=3600.0,
        gt=0,
        description="How often a signed tree head (RFC 6962) of the whole evidence log is sealed,"
        " timestamped and stored; unset: never.",
    )

    @property
    def sealed(self) -> bool:
        """A seal key is configured, in a file or in an HSM."""
        return self.seal_key_file is not None or self.seal_pkcs11_module is not None

    @model_validator(mode="after")
    def _sealing_is_coherent(self) -> SignerSettings:
        if self.seal_key_file is not None and self.seal_pkcs11_module is not None:
            raise ValueError(
                "SIGNER_SEAL_KEY_FILE and SIGNER_SEAL_PKCS11_MODULE are both set: configure one seal key,"
                " in a file or in the HSM"
            )
        if self.seal_pkcs11_module is not None:
            unset = [
                f"SIGNER_SEAL_PKCS11_{name.upper()}"
                for name, value in (
                    ("token_label", self.seal_pkcs11_token_label),
                    ("pin", self.seal_pkcs11_pin),
                    ("key_label", self.seal_pkcs11_key_label),
                )
                if value is None
            ]
            if unset:
                raise ValueError("SIGNER_SEAL_PKCS11_MODULE is set: " + ", ".join(unset) + " must be set too")
        if self.qualified:
            missing = []
            if self.seal_pkcs11_module is None:
                missing.append("an HSM-held seal key (SIGNER_SEAL_PKCS11_MODULE)")
            if self.tsa_url is None or not self.tsa_qualified:
                missing.append("a qualified TSA (SIGNER_TSA_URL and SIGNER_TSA_QUALIFIED=true)")
            if missing:
                raise ValueError(
                    "SIGNER_QUALIFIED=true but " + " and ".join(missing) + " is not configured:"
                    " refusing to start rather than issue evidence labelled qualified"
                )
        if self.sealed and self.tsa_url is None:
            raise ValueError(
                "a seal key is configured (SIGNER_SEAL_KEY_FILE or SIGNER_SEAL_PKCS11_MODULE) but"
                " SIGNER_TSA_URL is not: every seal needs an RFC 3161 timestamp; configure the TSA"
            )
        if self.evidence_s3_endpoint is not None and (
            self.evidence_s3_access_key is None or self.evidence_s3_secret_key is None
        ):
            raise ValueError(
                "SIGNER_EVIDENCE_S3_ENDPOINT is set: SIGNER_EVIDENCE_S3_ACCESS_KEY and"
                " SIGNER_EVIDENCE_S3_SECRET_KEY are required"
            )
        return self
