"""Label feedback in the reasons: a link feature's reason names the enforced account that links the account.

A ban that lands on day D reaches its ring-mates' scores on D already: the link features count the accounts that
are suspended or banned as of the end of D (int_account_links, int_account_links_window), and the day's run
builds them with D's enforcement actions. What the features cannot say is *which* enforced account links them;
``intermediate.int_account_enforced_links`` (dbt) names the most recently enforced one per link kind, and this
module writes it into the reason of each feature whose catalog entry says which link it counts
(``meta.feature.names_linked``)::

    Shares its payment method with suspended or banned accounts: acct-0001234, enforced since 2026-11-09

The reason text is the only field that changes, so the reasons' JSON shape, the risk tables and their readers
are as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from safeguard.catalog import ANY_LINK, FeatureSpec
from safeguard.warehouse import table_exists

ENFORCED_LINKS_TABLE = "intermediate.int_account_enforced_links"
LINK_WORDS = {
    "payment": "payment method",
    "signup_ip": "signup IP",
    "device": "device",
    "org": "org",
    "template": "prompt template",
}


@dataclass(frozen=True)
class EnforcedLink:
    """The enforced account that links an account by one kind of link, and since when it is enforced."""

    enforced_account_id: str
    link: str
    since: date


EnforcedLinks = Mapping[str, Mapping[str, EnforcedLink]]  # account_id -> link kind -> the named enforced account


def read_enforced_links(con, day: str | date) -> dict[str, dict[str, EnforcedLink]]:
    """The day's enforced links by account. A warehouse whose features were built before the table existed has
    none: its reasons then name nobody, as before."""
    if not table_exists(con, ENFORCED_LINKS_TABLE):
        return {}
    rows = con.execute(
        f"SELECT account_id, link, linked_enforced_account_id, linked_enforced_since FROM {ENFORCED_LINKS_TABLE} "
        "WHERE as_of_date = ?::DATE",
        [str(day)],
    ).fetchall()
    out: dict[str, dict[str, EnforcedLink]] = {}
    for account_id, link, enforced, since in rows:
        out.setdefault(account_id, {})[link] = EnforcedLink(enforced, link, since)
    return out


def _named(reason: str, kind: str, links: Mapping[str, EnforcedLink]) -> str:
    if kind == ANY_LINK:
        link = max(links.values(), key=lambda e: (e.since, e.enforced_account_id), default=None)
        how = f" by {LINK_WORDS[link.link]}" if link else ""
    else:
        link, how = links.get(kind), ""
    if link is None:
        return reason
    return f"{reason}: {link.enforced_account_id}{how}, enforced since {link.since.isoformat()}"


def name_linked_accounts(
    reasons_json: pa.Array, account_ids: pa.Array, features: Sequence[FeatureSpec], links: EnforcedLinks
) -> pa.Array:
    """``reasons_json`` (one JSON list per account, null when not explained) with each link feature's reason
    naming its enforced account. Only rows that have an enforced link and a link feature among their reasons are
    parsed; every other row is returned as it was."""
    kinds = {spec.name: spec.names_linked for spec in features if spec.names_linked}
    if not links or not kinds or len(reasons_json) == 0:
        return reasons_json
    has_link_reason = pc.fill_null(pc.match_substring(reasons_json, '"feature": "linked_'), False)
    rows = [i for i in pc.indices_nonzero(has_link_reason).to_pylist() if account_ids[i].as_py() in links]
    if not rows:
        return reasons_json
    texts = reasons_json.to_pylist()
    for i in rows:
        account_links = links[account_ids[i].as_py()]
        items = json.loads(texts[i])
        for item in items:
            kind = kinds.get(item["feature"])
            if kind:
                item["reason"] = _named(item["reason"], kind, account_links)
        texts[i] = json.dumps(items)
    return pa.array(texts, type=pa.string())
