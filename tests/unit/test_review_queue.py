"""The review queue's rules (safeguard.review.queue): who may be queued, rings as one case, ranking, capacity."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from safeguard.review.queue import (
    CLEARED,
    CONFIRMED,
    Decision,
    QueueError,
    QueueRule,
    ScoredAccount,
    build_queue,
    case_id,
    parse_case_id,
    queueable,
)

DAY = date(2026, 11, 9)


def acct(account_id: str, p: float, tier: str = "high", reasons: tuple[str, ...] = ()) -> ScoredAccount:
    return ScoredAccount(account_id, p, tier, reasons)


def ids(cases) -> list[list[str]]:
    return [[m.account_id for m in case.members] for case in cases]


def test_a_ring_linked_through_different_values_is_one_case_with_its_links():
    scored = [acct("a", 0.5), acct("b", 0.45), acct("c", 0.4), acct("solo", 0.9), acct("d", 0.35)]
    links = [
        ("a", "payment", "card-1"),
        ("b", "payment", "card-1"),  # a-b share a card
        ("b", "device", "dev-7"),
        ("c", "device", "dev-7"),  # b-c a device: a, b, c are one ring
        ("solo", "payment", "card-9"),
        ("d", "org", "org-3"),
    ]
    cases = build_queue(DAY, scored, links, set(), {}, QueueRule())
    assert ids(cases) == [["a", "b", "c"], ["solo"], ["d"]]
    ring = cases[0]
    assert ring.case_id == "2026-11-09#001" and ring.rank == 1
    assert ring.links == ("payment", "device")
    assert ring.expected_abuse == pytest.approx(1.35)  # ranked by expected abuse: 1.35 > 0.9 > 0.35
    assert cases[1].links == ()


def test_a_link_value_shared_by_too_many_accounts_links_nothing():
    scored = [acct("a", 0.5), acct("b", 0.5)]
    # a carrier NAT shared by 60 accounts of the population, 58 of them not queued
    links = [(f"x{i}", "signup_ip", "nat") for i in range(58)] + [("a", "signup_ip", "nat"), ("b", "signup_ip", "nat")]
    assert ids(build_queue(DAY, scored, links, set(), {}, QueueRule(max_link_group=50))) == [["a"], ["b"]]
    assert ids(build_queue(DAY, scored, links, set(), {}, QueueRule(max_link_group=60))) == [["a", "b"]]


def test_capacity_is_never_exceeded_and_keeps_the_most_expected_abuse():
    scored = [acct(f"s{i:03d}", 0.31 + i / 1000) for i in range(250)]
    ring = [acct(f"r{i}", 0.32, "elevated") for i in range(5)]
    links = [(a.account_id, "device", "shared") for a in ring]
    for capacity in (1, 7, 100):
        cases = build_queue(DAY, scored + ring, links, set(), {}, QueueRule(capacity=capacity))
        assert len(cases) == capacity
        assert [c.rank for c in cases] == list(range(1, capacity + 1))
        assert cases[0].members[0].account_id == "r0" and len(cases[0].members) == 5  # 1.6 expected
        expected = [c.expected_abuse for c in cases]
        assert expected == sorted(expected, reverse=True)
    everything = build_queue(DAY, scored + ring, links, set(), {}, QueueRule(capacity=1000))
    assert len(everything) == 251


@pytest.mark.parametrize(
    "name, value",
    [
        ("capacity", 0),
        ("capacity", -3),
        ("capacity", 2.5),
        ("capacity", True),
        ("cooldown_days", -1),
        ("max_link_group", 1),
        ("rescore_margin", 1.5),
        ("rescore_margin", -0.1),
        ("alert_tier", "severe"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_setting(name, value):
    with pytest.raises(QueueError, match=name):
        QueueRule(**{name: value})


def test_below_the_alert_tier_and_enforced_accounts_are_not_queued():
    scored = [acct("low", 0.1, "low"), acct("elev", 0.35, "elevated"), acct("banned", 0.99, "critical")]
    assert [a.account_id for a in queueable(scored, DAY, {"banned"}, {}, QueueRule())] == ["elev"]
    assert [a.account_id for a in queueable(scored, DAY, set(), {}, QueueRule(alert_tier="high"))] == ["banned"]


def test_an_unknown_tier_is_refused():
    with pytest.raises(QueueError, match="account x: tier 'severe'"):
        queueable([acct("x", 0.9, "severe")], DAY, set(), {}, QueueRule())


def test_a_cleared_account_stays_out_for_the_cooldown_unless_its_score_rises_by_the_margin():
    rule = QueueRule(cooldown_days=14, rescore_margin=0.2)
    cleared = {"x": Decision("x", CLEARED, DAY - timedelta(days=3), probability=0.5)}

    def queued(p: float, on: date) -> bool:
        return bool(queueable([acct("x", p)], on, set(), cleared, rule))

    assert not queued(0.5, DAY)
    assert not queued(0.69, DAY)  # risen, but by less than the margin
    assert queued(0.70, DAY)  # risen by the margin: back in the queue
    assert not queued(0.5, DAY - timedelta(days=3) + timedelta(days=13))  # the cool-down's last day
    assert queued(0.5, DAY - timedelta(days=3) + timedelta(days=14))  # the cool-down is over


def test_a_confirmed_account_is_never_queued_again():
    confirmed = {"x": Decision("x", CONFIRMED, DAY - timedelta(days=400), probability=0.3)}
    assert queueable([acct("x", 0.99)], DAY, set(), confirmed, QueueRule()) == []


def test_case_reasons_are_the_ones_most_members_share():
    scored = [
        acct("a", 0.6, reasons=("Shares a card with banned accounts", "Many requests on the day")),
        acct("b", 0.5, reasons=("Shares a card with banned accounts", "Recently created account")),
        acct("c", 0.4, reasons=("Recently created account", "Shares a card with banned accounts", "Odd hours")),
    ]
    links = [(a.account_id, "payment", "card") for a in scored]
    (case,) = build_queue(DAY, scored, links, set(), {}, QueueRule())
    assert case.reasons == (
        ("Shares a card with banned accounts", 3),
        ("Recently created account", 2),
        ("Many requests on the day", 1),
    )
    assert case.top_tier == "high"


def test_case_ids_round_trip_and_a_bad_one_shows_the_form():
    assert parse_case_id(case_id(DAY, 7)) == (DAY, 7)
    assert case_id(DAY, 7) == "2026-11-09#007"
    for bad in ("7", "2026-11-09", "2026-13-01#001", "2026-11-09#x"):
        with pytest.raises(QueueError, match="2026-11-09#007"):
            parse_case_id(bad)


def test_an_unknown_link_kind_is_refused():
    with pytest.raises(QueueError, match="link kind 'email'"):
        build_queue(DAY, [acct("a", 0.5)], [("a", "email", "x")], set(), {}, QueueRule())
