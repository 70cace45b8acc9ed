"""Holds after wrong answers (pickup.domain.locks): they end, they grow, and one address
alone holds only itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pickup.domain.locks import HoldRules, Holds, address_key, judge

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = HoldRules(max_failures=5)
STRANGER = "203.0.113.7"
RECIPIENT = "198.51.100.20"


def wrong_answers(holds: Holds, address: str, count: int, now: datetime = NOW) -> Holds:
    for _ in range(count):
        holds = judge(holds, address, True, now, RULES).holds
    return holds


def test_the_default_schedule_is_15_minutes_1_hour_4_hours_then_24_hours_each_time() -> None:
    delays = [RULES.delay(n) for n in range(6)]

    assert delays == [
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
        timedelta(hours=24),
        timedelta(hours=24),
        timedelta(hours=24),
    ]


def test_each_further_hold_of_an_address_lasts_the_next_delay() -> None:
    holds, now, ends = Holds(), NOW, []
    for _ in range(5):
        holds = wrong_answers(holds, STRANGER, 5, now)
        until = holds.held_until(STRANGER, now)
        assert until is not None
        ends.append(until - now)
        now = until

    hours = [0.25, 1, 4, 24, 24]
    assert ends == [timedelta(hours=h) for h in hours]


def test_a_hold_ends_and_a_right_answer_then_works() -> None:
    holds = wrong_answers(Holds(), RECIPIENT, 5)

    during = judge(holds, RECIPIENT, False, NOW + timedelta(minutes=14), RULES)
    after = judge(holds, RECIPIENT, False, NOW + timedelta(minutes=15), RULES)

    assert not during.judged and during.held_until == NOW + timedelta(minutes=15)
    assert after.judged and after.held_until is None


def test_one_address_wrong_answers_hold_that_address_not_the_recipients() -> None:
    holds = Holds()
    for round_start in (NOW, NOW + timedelta(minutes=15), NOW + timedelta(hours=2)):
        holds = wrong_answers(holds, STRANGER, 5, round_start)

    assert holds.held_until(STRANGER, NOW + timedelta(hours=2)) is not None
    assert holds.held_until(RECIPIENT, NOW + timedelta(hours=2)) is None
    assert judge(holds, RECIPIENT, False, NOW + timedelta(hours=2), RULES).judged


def test_holds_of_several_addresses_hold_the_item_for_everyone_and_that_too_ends() -> None:
    holds = Holds()
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        holds = wrong_answers(holds, address, 5)

    assert holds.held_until(RECIPIENT, NOW) == NOW + timedelta(minutes=15)
    assert holds.held_until(RECIPIENT, NOW + timedelta(minutes=15)) is None


def test_wrong_answers_before_the_limit_say_how_many_are_left() -> None:
    judgement = judge(wrong_answers(Holds(), RECIPIENT, 3), RECIPIENT, True, NOW, RULES)

    assert judgement.judged and judgement.left == 1 and judgement.held_until is None


def test_an_ipv6_address_counts_by_its_64_network() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"


def test_holds_survive_their_storage_unchanged() -> None:
    holds = wrong_answers(wrong_answers(Holds(), STRANGER, 5), RECIPIENT, 2)

    assert Holds.from_json(holds.to_json()) == holds
