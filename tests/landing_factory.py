"""Build valid landing-zone days (design §3.1) for tests and benchmarks, plus helpers to spoil single cells.

Rows are deterministic for a (source, day, n, seed): ids embed the day, so days never share an id by accident;
every timestamp falls inside its day; every enum, range and length rule holds. Generation is vectorized
(numpy + Arrow compute), so a benchmark can ask for a few hundred thousand rows.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from safeguard import contract
from safeguard.landing import LandingZone

COUNTRIES = np.array(["US", "DE", "FR", "BR", "IN", "JP"])
MODELS = np.array(["claude-a", "claude-b", "claude-c"])
CLIENTS = np.array(["sdk-python", "sdk-ts", "http"])


def _ids(prefix: str, n: int) -> pa.Array:
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), width=6, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), numbers, "")


def _pick(rng: np.random.Generator, values, n: int, *, null_share: float = 0.0) -> pa.Array:
    picked = np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]
    mask = rng.random(n) < null_share if null_share else None
    return pa.array(picked, type=pa.string(), mask=mask)


def _times_in_day(rng: np.random.Generator, day: str, n: int) -> pa.Array:
    """Sorted instants spread over the UTC day ``day`` (never on the next midnight)."""
    start = np.datetime64(day, "us")
    offsets = np.sort(rng.integers(0, 86_400_000_000, n)).astype("timedelta64[us]")
    return pa.array(start + offsets, type=contract.TS)


def _account_ids(rng: np.random.Generator, n: int, accounts: int) -> pa.Array:
    return pc.binary_join_element_wise("acc-", pc.cast(pa.array(rng.integers(0, accounts, n)), pa.string()), "")


def usage_events(day: str, n: int, *, seed: int = 0, accounts: int = 20) -> pa.Table:
    rng = np.random.default_rng([seed, date.fromisoformat(day).toordinal(), 1])
    return pa.table(
        {
            "event_id": _ids(f"ev-{day}-", n),
            "account_id": _account_ids(rng, n, accounts),
            "org_id": _pick(rng, ["org-1", "org-2"], n, null_share=0.3),
            "api_key_id": _pick(rng, ["key-1", "key-2", "key-3"], n),
            "event_ts": _times_in_day(rng, day, n),
            "model": _pick(rng, MODELS, n),
            "input_tokens": pa.array(rng.integers(0, 4000, n), pa.int64()),
            "output_tokens": pa.array(rng.integers(0, 2000, n), pa.int64()),
            "ip_hash": _pick(rng, ["ip-a", "ip-b", "ip-c", "ip-d"], n),
            "country": _pick(rng, COUNTRIES, n, null_share=0.1),
            "client": _pick(rng, CLIENTS, n),
            "stop_reason": _pick(rng, contract.STOP_REASONS, n),
            "policy_category": _pick(rng, contract.POLICY_CATEGORIES, n, null_share=0.5),
            "classifier_score": pa.array(rng.random(n), pa.float64()),
            "prompt_template_hash": _pick(rng, ["tpl-1", "tpl-2", "tpl-3"], n),
        },
        schema=contract.USAGE_EVENTS.arrow_schema,
    )


def accounts(day: str, n: int, *, seed: int = 0) -> pa.Table:
    """``n`` account versions updated on ``day`` (accounts ``acc-0`` ...), each created up to 60 days earlier."""
    rng = np.random.default_rng([seed, date.fromisoformat(day).toordinal(), 2])
    updated = _times_in_day(rng, day, n)
    age = rng.integers(0, 60 * 86_400_000_000, n).astype("timedelta64[us]")
    created = pa.array(updated.to_numpy(zero_copy_only=False).astype("datetime64[us]") - age, type=contract.TS)
    return pa.table(
        {
            "account_id": _ids("acc-", n),
            "org_id": _pick(rng, ["org-1", "org-2"], n, null_share=0.3),
            "created_at": created,
            "plan": _pick(rng, contract.PLANS, n),
            "signup_country": _pick(rng, COUNTRIES, n, null_share=0.1),
            "email_domain_kind": _pick(rng, contract.EMAIL_DOMAIN_KINDS, n),
            "payment_fingerprint": _pick(rng, ["pay-1", "pay-2", "pay-3"], n, null_share=0.2),
            "phone_verified": pa.array(rng.random(n) < 0.5),
            "signup_ip_hash": _pick(rng, ["ip-a", "ip-b", "ip-c"], n),
            "device_hash": _pick(rng, ["dev-1", "dev-2"], n, null_share=0.2),
            "updated_at": updated,
        },
        schema=contract.ACCOUNTS.arrow_schema,
    )


def enforcement_actions(day: str, n: int, *, seed: int = 0, accounts: int = 20) -> pa.Table:
    rng = np.random.default_rng([seed, date.fromisoformat(day).toordinal(), 3])
    return pa.table(
        {
            "action_id": _ids(f"act-{day}-", n),
            "account_id": _account_ids(rng, n, accounts),
            "action_ts": _times_in_day(rng, day, n),
            "action": _pick(rng, contract.ENFORCEMENT_ACTIONS, n),
            "category": _pick(rng, ["cyber", "fraud_scams", "account_takeover"], n),
            "source": _pick(rng, contract.ENFORCEMENT_SOURCES, n),
        },
        schema=contract.ENFORCEMENT.arrow_schema,
    )


BUILDERS = {"usage_events": usage_events, "accounts": accounts, "enforcement_actions": enforcement_actions}


def valid_rows(source: str, day: str, n: int, *, seed: int = 0) -> pa.Table:
    """``n`` valid rows of ``source`` for ``day``."""
    return BUILDERS[source](day, n, seed=seed)


def with_value(table: pa.Table, row: int, column: str, value) -> pa.Table:
    """``table`` with one cell replaced, keeping the column's type (a datetime must carry its zone)."""
    values = table.column(column).to_pylist()
    values[row] = value
    index = table.schema.get_field_index(column)
    field = table.schema.field(index).with_nullable(True)
    return table.set_column(index, field, pa.array(values, type=field.type))


def with_column(table: pa.Table, column: str, array: pa.Array) -> pa.Table:
    """``table`` with one column replaced by ``array`` of any type (a producer writing the wrong type)."""
    index = table.schema.get_field_index(column)
    return table.set_column(index, column, array)


def at(day: str, *, hours: float = 0.0) -> datetime:
    """An aware UTC instant ``hours`` after the start of ``day`` (negative: before it)."""
    return datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=hours)


def write_landing(
    zone: LandingZone,
    days: list[str],
    *,
    rows: int = 30,
    files_per_day: int = 1,
    sources: tuple[str, ...] = tuple(contract.SOURCES),
    seed: int = 0,
) -> LandingZone:
    """Write ``rows`` valid rows per day and source, split over ``files_per_day`` files, each day marked done."""
    for source in sources:
        for day in days:
            table = valid_rows(source, day, rows, seed=seed)
            bounds = np.linspace(0, rows, files_per_day + 1).astype(int)
            zone.write_day(source, day, [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)])
    return zone
