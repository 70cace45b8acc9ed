"""A SoftHSM2 token holding the test PKI's seal key, for the PKCS#11 tests (TEST ONLY).

SoftHSM2 (Debian package `softhsm2`) is a software PKCS#11 module: the seal key is imported
into a fresh token in a temporary directory with `softhsm2-util`, its certificate is written
next to it through PKCS#11 (python-pkcs11); the signer then finds both by label, as with a
real HSM. The module reads its configuration (`SOFTHSM2_CONF`) once per process, when first
loaded: this fixture sets it before anything loads the module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, CertificateType, ObjectClass

from tests.support.pki import TestPki

MODULE_PATHS = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
)
TOKEN_LABEL = "lre-test-seal"
KEY_LABEL = "seal"
KEY_ID = b"\x01"


@dataclass(frozen=True)
class SoftHsm:
    module: Path
    token_label: str
    pin: str
    key_label: str


def softhsm_module() -> Path:
    for path in MODULE_PATHS:
        if path.exists():
            return path
    pytest.fail("SoftHSM2 is not installed: apt-get install softhsm2 (the PKCS#11 tests need it)")


def softhsm2_util(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr or result.stdout}")


def import_certificate(module: Path, pin: str, pki: TestPki) -> None:
    certificate = pki.cert(KEY_LABEL)
    token = pkcs11.lib(str(module)).get_token(token_label=TOKEN_LABEL)
    with token.open(rw=True, user_pin=pin) as session:
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.LABEL: KEY_LABEL,
                Attribute.ID: KEY_ID,
                Attribute.SUBJECT: certificate.subject.dump(),
                Attribute.VALUE: certificate.dump(),
            }
        )


@pytest.fixture(scope="session")
def softhsm(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    module = softhsm_module()
    util = shutil.which("softhsm2-util")
    if util is None:
        pytest.fail("softhsm2-util is not installed: apt-get install softhsm2")
    directory = tmp_path_factory.mktemp("softhsm")
    (directory / "tokens").mkdir()
    config = directory / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(config)
    pin = "4711"  # a throwaway token's PIN
    softhsm2_util(
        util, "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", pin, "--so-pin", "47114711"
    )
    softhsm2_util(
        util,
        "--import",
        str(test_pki.key_file(KEY_LABEL)),
        "--token",
        TOKEN_LABEL,
        "--label",
        KEY_LABEL,
        "--id",
        KEY_ID.hex(),
        "--pin",
        pin,
    )
    import_certificate(module, pin, test_pki)
    try:
        yield SoftHsm(module=module, token_label=TOKEN_LABEL, pin=pin, key_label=KEY_LABEL)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
