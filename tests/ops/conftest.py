from tests.support.pki import test_pki

__all__ = ["test_pki"]
