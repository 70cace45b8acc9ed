"""Two processes of every service at once, as two replicas of each Deployment: they compete
for the same quorum queues, share their databases and buckets, and the two pickup sites answer
behind one address (deploy/local/balancer.py, round robin). The journey driver
(bench/journey.py) deposits 40 letters and drives their recipients over HTTP: most accept and
sign the AR with the demo recipient's TEST certificate, some refuse, some are left past their
window (non réclamée, CPCE R.53-3); for a quarter the first reminder is made due at once, for
both notifiers to race for. The checker (bench/checker.py) then reads every store: each letter
in its final state with its final evidence, every ETSI EN 319 522 event recorded once, every
hash chain whole and copied to the evidence bucket, one notice and at most one reminder round
per letter, no email received twice."""

from __future__ import annotations

import asyncio
import re
import subprocess
from urllib.parse import unquote, urlsplit

import pytest

from bench.journey import Journey, OwnPlatform, Plan, run_journey
from deploy.local import platform

# The platform's start, 40 journeys and the check take minutes on a busy 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

LETTERS = 40


def consumers_by_queue(amqp_url: str) -> dict[str, int]:
    vhost = unquote(urlsplit(amqp_url).path.lstrip("/")) or "/"
    shown = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "consumers", "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = {}
    for line in shown.splitlines():
        name, _, count = line.rpartition("\t")
        if name and count.isdigit():
            found[name] = int(count)
    return found


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Journey, dict[str, int], str]:
    workdir = tmp_path_factory.mktemp("scale-out")
    with OwnPlatform.started(replicas=2, workdir=workdir) as own:
        assert len(own.running.processes) == 2 * len(platform.SERVICES)
        result = asyncio.run(
            run_journey(
                own.target,
                Plan(
                    letters=LETTERS,
                    refused_share=0.2,
                    unclaimed_share=0.2,
                    reminded_share=0.25,
                    visitors=8,
                    timeout_seconds=900,
                    check_wait_seconds=300,
                ),
                log=False,
            )
        )
        # Counted once the journey is over, every process still running.
        consumers = consumers_by_queue(own.target.amqp_url)
        alive = [name for name, process in own.running.processes.items() if process.poll() is None]
        assert len(alive) == 2 * len(platform.SERVICES), own.running.processes
    balancer_log = (workdir / "logs" / "balancer.log").read_text()
    return result, consumers, balancer_log


def test_every_letter_ends_in_its_state_once_with_two_processes_of_every_service(
    journey: tuple[Journey, dict[str, int], str],
) -> None:
    result, _, _ = journey
    problems = "\n".join(result.check.problems[:40])
    assert result.check.letters == LETTERS
    assert not [p for p in result.check.problems if p.startswith("driver:")], problems
    assert result.check.lost == 0, problems
    assert result.check.doubled == 0, problems
    assert result.check.proofs_missing == 0, problems


def test_every_hash_chain_is_whole_and_in_the_evidence_bucket(
    journey: tuple[Journey, dict[str, int], str],
) -> None:
    result, _, _ = journey
    problems = "\n".join(result.check.problems[:40])
    assert result.check.broken_chains == 0, problems
    # Deposit, notice, decision (and for accepted letters the signed AR): at least 3 a letter,
    # each compared byte for byte with its copy in the bucket.
    assert result.check.records >= 3 * LETTERS
    assert result.check.fetched == result.check.records


def test_both_processes_of_each_service_take_their_share(
    journey: tuple[Journey, dict[str, int], str],
) -> None:
    _, consumers, balancer_log = journey
    # Every service's queues (`<service>.<routing key>`, not their dead-letter queues) have
    # two consumers: one in each process.
    for service in platform.SERVICES:
        queues = {
            name: count
            for name, count in consumers.items()
            if name.startswith(f"{service}.") and not name.endswith(".dlq")
        }
        assert queues, f"no queue of {service}: {sorted(consumers)}"
        assert set(queues.values()) == {2}, queues
    # Both pickup sites answered visitors.
    taken = [int(n) for n in re.findall(r"took (\d+) connections", balancer_log)]
    assert len(taken) == 2 and min(taken) > 0, balancer_log


def test_the_driver_ends_with_the_result_line(journey: tuple[Journey, dict[str, int], str]) -> None:
    result, _, _ = journey
    assert re.fullmatch(
        r"RESULT journey_letters_per_s=[0-9.]+ notice_p99_ms=[0-9]+ lost=0 doubled=0", result.result_line()
    )
