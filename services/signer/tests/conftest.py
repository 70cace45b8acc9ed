from tests.support.pki import TestPki, test_pki

__all__ = ["TestPki", "test_pki"]
