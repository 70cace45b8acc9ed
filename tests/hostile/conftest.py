from __future__ import annotations

import pytest

from tests.support.pki import TestPki, test_pki
from tests.support.running import RunningPlatform

__all__ = ["platform_running", "test_pki"]


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    return services.start_on_test_pki(test_pki)
