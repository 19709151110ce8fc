"""What the queue reads from the warehouse for one day: every account's link values and who is enforced, as of
the day (``intermediate.int_account_snapshot``, point in time: the account version in effect at the day's end,
suspended or banned by then)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pyarrow as pa

from safeguard.review.queue import QueueError
from safeguard.warehouse import table_exists

SNAPSHOT_TABLE = "intermediate.int_account_snapshot"
LINK_COLUMNS = {
    "payment": "payment_fingerprint",
    "signup_ip": "signup_ip_hash",
    "device": "device_hash",
    "org": "org_id",
}  # the queue's LINK_KINDS, each with its snapshot column


def links_as_of(
    con, day: date, accounts: Sequence[str] | None = None, max_group: int | None = None
) -> tuple[list[tuple[str, str, str]], set[str]]:
    """``([(account_id, kind, value)], enforced account ids)`` as of ``day``; refused when the day is not built.

    With ``accounts`` (the day's alerts) and ``max_group``, DuckDB keeps only what the queue can use: the links of
    those accounts through values that 2 to ``max_group`` accounts of the whole population hold, and which of
    those accounts are enforced. The rings come out the same as from every account's links, at a fraction of the
    cost (a million accounts hold four million link values; a day's alerts a few percent of them)."""
    if not table_exists(con, SNAPSHOT_TABLE):
        raise QueueError(f"{SNAPSHOT_TABLE} does not exist: build the features before a review queue")
    if not con.execute(
        f"SELECT count(*) FROM {SNAPSHOT_TABLE} WHERE as_of_date = ?::DATE", [day.isoformat()]
    ).fetchone()[0]:
        raise QueueError(f"{SNAPSHOT_TABLE} has no accounts as of {day}: build that day's features first")
    values = " UNION ALL ".join(
        f"SELECT account_id, '{kind}' AS kind, {column} AS value FROM day_snapshot WHERE {column} IS NOT NULL"
        for kind, column in LINK_COLUMNS.items()
    )
    day_snapshot = (
        f"WITH day_snapshot AS (SELECT * FROM {SNAPSHOT_TABLE} WHERE as_of_date = ?::DATE), link_values AS ({values}) "
    )
    if accounts is None:
        rows = con.execute(day_snapshot + "SELECT account_id, kind, value FROM link_values", [day.isoformat()])
        links = rows.fetchall()
        enforced = con.execute(
            f"SELECT account_id FROM {SNAPSHOT_TABLE} WHERE as_of_date = ?::DATE AND is_enforced = 1", [day.isoformat()]
        ).fetchall()
        return links, {a for (a,) in enforced}
    wanted = pa.table({"account_id": pa.array(list(accounts), pa.string())})
    con.register("queue_candidates", wanted)
    try:
        links = con.execute(
            day_snapshot + "SELECT link_values.account_id, link_values.kind, link_values.value FROM link_values "
            "JOIN queue_candidates USING (account_id) "
            "JOIN (SELECT kind, value FROM link_values GROUP BY kind, value HAVING count(*) BETWEEN 2 AND ?) "
            "AS shared USING (kind, value)",
            [day.isoformat(), max_group if max_group is not None else 2**62],
        ).fetchall()
        enforced = con.execute(
            f"SELECT account_id FROM {SNAPSHOT_TABLE} JOIN queue_candidates USING (account_id) "
            "WHERE as_of_date = ?::DATE AND is_enforced = 1",
            [day.isoformat()],
        ).fetchall()
    finally:
        con.unregister("queue_candidates")
    return links, {a for (a,) in enforced}
