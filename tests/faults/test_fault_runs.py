"""Nothing lost, nothing doubled, when the parts fail under load (tests/faults/runs.py).

Each test is one run of the whole journey (bench/journey.py) on a platform with RabbitMQ,
PostgreSQL, S3 and SMTP of its own, with one fault applied mid-run; then every store is
checked (bench/checker.py) and the dead-letter queues are read. The short set runs here, in
the normal test command, with few letters (LRE_FAULT_LETTERS, 8 by default) and short
windows; `make faults` runs every fault with 500 letters and a minute of SMTP refusal.
Each run prints its `RESULT fault=... lost=... doubled=...` line.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.runs import FaultPlatform, Settings, run_fault

pytestmark = pytest.mark.e2e

SETTINGS = Settings.from_env()


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultPlatform]:
    with FaultPlatform.started(tmp_path_factory.mktemp("fault-runs")) as platform:
        yield platform


@pytest.mark.timeout(1800 if SETTINGS.long else 600)
@pytest.mark.parametrize("fault", SETTINGS.faults)
async def test_the_journey_loses_and_doubles_nothing_under_the_fault(
    own: FaultPlatform, fault: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await run_fault(own, fault, SETTINGS)
    with capsys.disabled():
        print("\n" + result.report(), flush=True)
    assert result.check.lost == 0, result.report()
    assert result.doubled_notices == 0, result.report()
    assert result.check.broken_chains == 0, result.report()
    assert not result.driver_failures, result.report()
    # Only the poison this run injected is dead-lettered, and all of it.
    assert not result.unexpected_dead_letters, result.report()
    assert result.poison_dead_lettered == len(result.poison), result.report()
    assert not result.undrained, result.report()
    assert not result.died, result.report()
