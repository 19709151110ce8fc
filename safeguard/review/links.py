"""What the queue reads from the warehouse for one day: every account's link values and who is enforced, as of
the day (``intermediate.int_account_snapshot``, point in time: the account version in effect at the day's end,
suspended or banned by then)."""

from __future__ import annotations

from datetime import date

from safeguard.review.queue import QueueError
from safeguard.warehouse import table_exists

SNAPSHOT_TABLE = "intermediate.int_account_snapshot"
LINK_COLUMNS = {"payment": "payment_fingerprint", "signup_ip": "signup_ip_hash", "device": "device_hash",
                "org": "org_id"}  # the queue's LINK_KINDS, each with its snapshot column


def links_as_of(con, day: date) -> tuple[list[tuple[str, str, str]], set[str]]:
    """``([(account_id, kind, value)], enforced account ids)`` as of ``day``; refused when the day is not built."""
    if not table_exists(con, SNAPSHOT_TABLE):
        raise QueueError(f"{SNAPSHOT_TABLE} does not exist: build the features before a review queue")
    columns = ", ".join(LINK_COLUMNS.values())
    rows = con.execute(
        f"SELECT account_id, is_enforced, {columns} FROM {SNAPSHOT_TABLE} WHERE as_of_date = ?::DATE",
        [day.isoformat()],
    ).fetchall()
    if not rows:
        raise QueueError(f"{SNAPSHOT_TABLE} has no accounts as of {day}: build that day's features first")
    links, enforced = [], set()
    for account_id, is_enforced, *values in rows:
        if is_enforced:
            enforced.add(account_id)
        links.extend((account_id, kind, v) for kind, v in zip(LINK_COLUMNS, values, strict=True) if v)
    return links, enforced
