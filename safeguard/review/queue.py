"""The daily review queue: the day's alerts as cases an analyst can work, at most ``capacity`` of them (issue 17).

Pure: plain rows in, cases out; the serving tables it is stored in are :mod:`safeguard.review.store`.

- **Who may be queued**: accounts published on the day at the alert tier or above (``elevated`` by default), not
  already suspended or banned as of the day, not confirmed by a reviewer before, and not cleared by a reviewer
  within the cool-down, unless their probability has since risen by at least ``rescore_margin`` over the one the
  reviewer saw.
- **A case is a ring**: queued accounts that share a payment fingerprint, signup IP, device or org as of the day
  are one case (connected components: A shares a card with B, B a device with C: one case of three). A value
  shared by more than ``max_link_group`` accounts in the whole population (a big org, a carrier NAT) links
  nothing, as in the ring features (by default the dbt var ``link_max_accounts_per_value``, 100).
- **Ranked by expected abuse caught per case**: the sum of the members' calibrated probabilities (the expected
  number of abusive accounts a reviewer confirms by working the case), highest first; ties by the case's first
  account. A ring of twenty accounts at 0.4 (8 expected) outranks one account at 0.95. The first ``capacity``
  cases are the queue.
- **Reasons in plain words**: per case, the three reasons most members share (the catalog's text of the
  published rows' reasons), with how many members carry each.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from safeguard.catalog import project_var
from safeguard.vocabulary import TIERS

CONFIRMED, CLEARED = "confirmed", "cleared"
DECISIONS = (CONFIRMED, CLEARED)
LINK_KINDS = ("payment", "signup_ip", "device", "org")
REASONS_PER_CASE = 3


class QueueError(ValueError):
    """The queue cannot be built as asked; the message says what is wrong. Nothing was written."""


@dataclass(frozen=True)
class QueueRule:
    """How the queue is sized and who may come back to it. ``capacity``: cases a day (``REVIEW_CAPACITY``).
    ``cooldown_days``: days a cleared account stays out. ``rescore_margin``: the rise of probability that brings
    a cleared account back within the cool-down. ``alert_tier``: the lowest tier queued. ``max_link_group``: a link
    value shared by more accounts links nothing."""

    capacity: int = 100
    cooldown_days: int = 14
    rescore_margin: float = 0.2
    alert_tier: str = "elevated"
    max_link_group: int = field(default_factory=lambda: int(project_var("link_max_accounts_per_value")))

    def __post_init__(self) -> None:
        for name, least in (("capacity", 1), ("cooldown_days", 0), ("max_link_group", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise QueueError(f"review {name} must be a whole number of at least {least}, got {value!r}")
        if isinstance(self.rescore_margin, bool) or not 0 <= self.rescore_margin <= 1:
            raise QueueError(f"review rescore_margin must be between 0 and 1, got {self.rescore_margin!r}")
        if self.alert_tier not in TIERS:
            raise QueueError(f"review alert_tier must be one of {TIERS}, got {self.alert_tier!r}")


@dataclass(frozen=True)
class ScoredAccount:
    """One account's published row of the day."""

    account_id: str
    probability: float
    tier: str
    reasons: tuple[str, ...] = ()  # the plain-language reason texts, strongest first


@dataclass(frozen=True)
class Decision:
    """A reviewer's latest decision on an account: ``probability`` is the one the reviewer saw."""

    account_id: str
    decision: str
    decided_on: date
    probability: float


@dataclass(frozen=True)
class Case:
    case_id: str
    rank: int
    members: tuple[ScoredAccount, ...]  # highest probability first
    expected_abuse: float
    links: tuple[str, ...]  # the link kinds that join the members (empty for a single account)
    reasons: tuple[tuple[str, int], ...] = field(default=())  # (reason text, members carrying it)

    @property
    def top_tier(self) -> str:
        return max((m.tier for m in self.members), key=TIERS.index)


def case_id(day: date, rank: int) -> str:
    """``2026-11-09#007``: the day and the case's rank in that day's queue."""
    return f"{day.isoformat()}#{rank:03d}"


def parse_case_id(text: str) -> tuple[date, int]:
    """(day, rank) of a case id, refusing anything else with a message that shows the form."""
    day_text, _, rank_text = str(text).partition("#")
    try:
        return date.fromisoformat(day_text), int(rank_text)
    except ValueError:
        raise QueueError(f"{text!r} is not a case id of the form 2026-11-09#007 (day # rank)") from None


def queueable(
    scored: Iterable[ScoredAccount],
    day: date,
    enforced: set[str],
    decisions: Mapping[str, Decision],
    rule: QueueRule,
) -> list[ScoredAccount]:
    """The accounts that may be queued on ``day`` (see the module docstring), in input order."""
    floor = TIERS.index(rule.alert_tier)
    out = []
    for account in scored:
        if account.tier not in TIERS:
            raise QueueError(f"account {account.account_id}: tier {account.tier!r} is not one of {TIERS}")
        if TIERS.index(account.tier) < floor or account.account_id in enforced:
            continue
        decision = decisions.get(account.account_id)
        if decision is not None:
            if decision.decision == CONFIRMED:
                continue
            cooling = day - decision.decided_on < timedelta(days=rule.cooldown_days)
            if cooling and account.probability < decision.probability + rule.rescore_margin:
                continue
        out.append(account)
    return out


class _Components:
    """Union-find over account ids."""

    def __init__(self, items: Iterable[str]):
        self.parent = {i: i for i in items}

    def find(self, item: str) -> str:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_rings(
    accounts: Sequence[ScoredAccount], links: Iterable[tuple[str, str, str]], rule: QueueRule
) -> list[tuple[list[ScoredAccount], set[str]]]:
    """The accounts grouped into rings: (members, link kinds joining them). ``links``: (account_id, kind, value) of
    the whole population as of the day, so a value's group size counts every account that has it."""
    queued = {a.account_id for a in accounts}
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for account_id, kind, value in links:
        if kind not in LINK_KINDS:
            raise QueueError(f"link kind {kind!r} of account {account_id} is not one of {LINK_KINDS}")
        if value is not None and value != "":
            holders[(kind, value)].append(account_id)
    components = _Components(queued)
    kinds_of: dict[str, set[str]] = defaultdict(set)
    for (kind, _), members in holders.items():
        inside = sorted(set(members) & queued)
        if len(inside) < 2 or len(set(members)) > rule.max_link_group:
            continue
        for other in inside[1:]:
            components.union(inside[0], other)
        kinds_of[inside[0]].add(kind)
    groups: dict[str, list[ScoredAccount]] = defaultdict(list)
    for account in accounts:
        groups[components.find(account.account_id)].append(account)
    joined: dict[str, set[str]] = defaultdict(set)
    for account_id, kinds in kinds_of.items():
        joined[components.find(account_id)] |= kinds
    return [(members, joined[root]) for root, members in groups.items()]


def _case_reasons(members: Sequence[ScoredAccount]) -> tuple[tuple[str, int], ...]:
    counts = Counter(text for m in members for text in dict.fromkeys(m.reasons))
    first_seen = {text: i for i, text in enumerate(t for m in members for t in m.reasons)}
    ranked = sorted(counts, key=lambda t: (-counts[t], first_seen[t]))
    return tuple((text, counts[text]) for text in ranked[:REASONS_PER_CASE])


def build_queue(
    day: date,
    scored: Iterable[ScoredAccount],
    links: Iterable[tuple[str, str, str]],
    enforced: set[str],
    decisions: Mapping[str, Decision],
    rule: QueueRule,
) -> list[Case]:
    """The day's queue: at most ``rule.capacity`` cases, ranked by expected abuse caught per case."""
    accounts = queueable(scored, day, enforced, decisions, rule)
    cases = []
    for members, kinds in group_rings(accounts, links, rule):
        members = sorted(members, key=lambda m: (-m.probability, m.account_id))
        cases.append((sum(m.probability for m in members), members, kinds))
    cases.sort(key=lambda c: (-c[0], c[1][0].account_id))
    return [
        Case(
            case_id=case_id(day, rank),
            rank=rank,
            members=tuple(members),
            expected_abuse=round(expected, 6),
            links=tuple(k for k in LINK_KINDS if k in kinds),
            reasons=_case_reasons(members),
        )
        for rank, (expected, members, kinds) in enumerate(cases[: rule.capacity], start=1)
    ]
