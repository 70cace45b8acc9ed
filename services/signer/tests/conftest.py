from services.signer.tests.integration.softhsm import SoftHsm, softhsm
from tests.support.pki import TestPki, test_pki

__all__ = ["SoftHsm", "TestPki", "softhsm", "test_pki"]
