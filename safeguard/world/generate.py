"""Generate a synthetic world into a landing zone (design §3.1), day by day, plus its ground truth.

The landing zone gets exactly the contract's three sources, one folder per day with ``_SUCCESS``; nothing in it
names an archetype. The ground truth (account_id, archetype, is_abuser, abuse_start) goes to a separate Parquet
file for evaluation only, never into the landing zone.

Determinism: the same arguments give the same bytes. Every random stream is derived from the seed with a
``SeedSequence`` spawn key naming its purpose, and each day's events have their own stream keyed by the day's
index, so a day never depends on how many draws other days used. Memory is bounded by one day of events: the
per-account state is a fixed set of numpy arrays, and each day is written and dropped before the next.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from safeguard.contract import ACCOUNTS, ENFORCEMENT, USAGE_EVENTS
from safeguard.dates import as_date
from safeguard.landing import LandingZone, ObjectStore
from safeguard.progress import progress as progress_of
from safeguard.world.accounts import DAY, NEVER, AccountIds, Population, accounts_table, build_population
from safeguard.world.enforcement import enforcement_table, plan_enforcement
from safeguard.world.events import events_table
from safeguard.world.ids import vocab_strings
from safeguard.world.params import DEFAULT, WorldParams
from safeguard.world.populations import ARCHETYPES, IS_ABUSER
from safeguard.world.robust import lookalike_kinds, mix_shares

# SeedSequence spawn keys: one independent stream per purpose (and per day for events).
_POPULATION_STREAM, _ENFORCEMENT_STREAM, _EVENTS_STREAM, _ROBUSTNESS_STREAM = 0, 1, 2, 3

TRUTH_SCHEMA = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("archetype", pa.string(), nullable=False),
        pa.field("is_abuser", pa.bool_(), nullable=False),
        pa.field("abuse_start", pa.timestamp("us", tz="UTC")),
    ]
)
# A robustness world's truth says more: when abuse ends (a recovered takeover), whether the abuser evades the
# classifier, and which benign accounts are lookalikes (traveller, class_member). The demo world's truth keeps
# its four columns, so its bytes stay as they were.
ROBUST_TRUTH_SCHEMA = pa.schema(
    [
        *TRUTH_SCHEMA,
        pa.field("abuse_end", pa.timestamp("us", tz="UTC")),
        pa.field("evasive", pa.bool_(), nullable=False),
        pa.field("lookalike", pa.string()),
    ]
)


@dataclass
class WorldSummary:
    """What a generation run wrote: rows per source, accounts and abusers per archetype, wall time."""

    start: str
    days: int
    accounts: int
    abusers: int
    rows: dict[str, int] = field(default_factory=dict)
    archetypes: dict[str, int] = field(default_factory=dict)
    abusers_enforced: int = 0  # abusers with a suspend or ban inside the window
    seconds: float = 0.0
    params: str = "default"  # name of the world parameters (a robustness preset, or default)
    lookalikes: dict[str, int] = field(default_factory=dict)  # robustness worlds: travellers, class members

    @property
    def abuser_share(self) -> float:
        return self.abusers / self.accounts if self.accounts else 0.0


class WorldArgumentError(ValueError):
    """The arguments cannot describe a world (the message names the argument)."""


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _check_args(accounts: int, days: int, seed: int, out_uri: str, truth_path: str | Path) -> None:
    if accounts < 1:
        raise WorldArgumentError(f"accounts must be at least 1, got {accounts}")
    if days < 1:
        raise WorldArgumentError(f"days must be at least 1, got {days}")
    if seed < 0:
        raise WorldArgumentError(f"seed must be a non-negative integer, got {seed}")
    truth, out = str(truth_path), out_uri.rstrip("/")
    if not out.startswith("s3://") and not truth.startswith("s3://"):
        if Path(truth).resolve().is_relative_to(Path(out).resolve()):
            raise WorldArgumentError(f"the ground truth {truth} must lie outside the landing zone {out_uri}")
    elif truth.startswith(out + "/"):
        raise WorldArgumentError(f"the ground truth {truth} must lie outside the landing zone {out_uri}")


def _timestamps(seconds: np.ndarray) -> pa.Array:
    return pa.array(
        np.where(seconds == NEVER, 0, seconds) * 1_000_000,
        type=TRUTH_SCHEMA.field("abuse_start").type,
        mask=seconds == NEVER,
    )


def truth_table(pop: Population, ids: AccountIds, robust: bool = False) -> pa.Table:
    """Ground truth of every account: archetype, whether it abuses and from when (null for benign accounts);
    for a robustness world also abuse_end, evasive and lookalike (:data:`ROBUST_TRUTH_SCHEMA`)."""
    abuse_start = np.where(pop.abuse_start == NEVER, 0, pop.abuse_start) * 1_000_000
    if robust:
        kinds = lookalike_kinds(pop)
        lookalike = np.select([kinds["class_member"], kinds["traveller"]], [1, 2], 0)
        return pa.Table.from_pydict(
            {
                "account_id": ids.account(np.arange(pop.size)),
                "archetype": vocab_strings(ARCHETYPES, pop.archetype),
                "is_abuser": pa.array(IS_ABUSER[pop.archetype]),
                "abuse_start": _timestamps(pop.abuse_start),
                "abuse_end": _timestamps(pop.abuse_end),
                "evasive": pa.array(pop.evasive & IS_ABUSER[pop.archetype]),
                "lookalike": vocab_strings(("class_member", "traveller"), lookalike - 1),
            },
            schema=ROBUST_TRUTH_SCHEMA,
        )
    return pa.Table.from_pydict(
        {
            "account_id": ids.account(np.arange(pop.size)),
            "archetype": vocab_strings(ARCHETYPES, pop.archetype),
            "is_abuser": pa.array(IS_ABUSER[pop.archetype]),
            "abuse_start": pa.array(
                abuse_start, type=TRUTH_SCHEMA.field("abuse_start").type, mask=pop.abuse_start == NEVER
            ),
        },
        schema=TRUTH_SCHEMA,
    )


def world_rings(accounts: int, days: int, start: date | str, seed: int, params: WorldParams = DEFAULT) -> pa.Table:
    """``(account_id, ring)`` of every ring member of the world :func:`generate_world` writes for these arguments:
    which coordinated ring each belongs to. Rebuilt from the seed (no events), for a benchmark that measures
    whether rings are caught as one case; the written ground truth keeps its columns."""
    first_day = as_date(start)
    start_s = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp())
    robust = not params.is_default
    pop = build_population(
        accounts,
        start_s,
        days,
        _rng(seed, _POPULATION_STREAM),
        params,
        _rng(seed, _ROBUSTNESS_STREAM) if robust else None,
    )
    members = np.flatnonzero(pop.ring >= 0)
    return pa.table({"account_id": AccountIds(pop, seed).account(members), "ring": pa.array(pop.ring[members])})


def _write_truth(table: pa.Table, truth_path: str | Path, s3_endpoint_url: str | None) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    parent, _, name = str(truth_path).rstrip("/").rpartition("/")
    ObjectStore(parent or ".", s3_endpoint_url=s3_endpoint_url).write_bytes(name, buf.getvalue())


def _write_day(zone: LandingZone, day: str, tables: dict[str, pa.Table]) -> None:
    for source, table in tables.items():
        zone.write_day(source, day, [table])


def generate_world(
    *,
    accounts: int,
    days: int,
    start: date | str,
    seed: int,
    out_uri: str,
    truth_path: str | Path,
    s3_endpoint_url: str | None = None,
    progress: bool = True,
    params: WorldParams = DEFAULT,
) -> WorldSummary:
    """Write ``days`` days of a world of ``accounts`` accounts from ``start`` into the landing zone ``out_uri``.

    Existing days of the same dates are replaced whole; the ground truth goes to ``truth_path`` (a local path or
    ``s3://`` URI outside the landing zone). ``params`` other than the default make a robustness world
    (:mod:`safeguard.world.params`); the default world's bytes do not depend on that option existing.
    """
    _check_args(accounts, days, seed, out_uri, truth_path)
    began = time.perf_counter()
    first_day = as_date(start)
    start_s = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp())

    robust = not params.is_default
    pop = build_population(
        accounts,
        start_s,
        days,
        _rng(seed, _POPULATION_STREAM),
        params,
        _rng(seed, _ROBUSTNESS_STREAM) if robust else None,
    )
    plan = plan_enforcement(pop, start_s, days, _rng(seed, _ENFORCEMENT_STREAM), params)
    ids = AccountIds(pop, seed)
    zone = LandingZone(out_uri, s3_endpoint_url=s3_endpoint_url)

    counts = np.bincount(pop.archetype, minlength=len(ARCHETYPES))
    end_s = start_s + days * DAY
    blocked = (plan.block_at < end_s) & IS_ABUSER[pop.archetype]
    summary = WorldSummary(
        start=first_day.isoformat(),
        days=days,
        accounts=accounts,
        abusers=int(IS_ABUSER[pop.archetype].sum()),
        rows={USAGE_EVENTS.name: 0, ACCOUNTS.name: 0, ENFORCEMENT.name: 0},
        archetypes={name: int(c) for name, c, share in zip(ARCHETYPES, counts, mix_shares(params)) if share > 0},
        abusers_enforced=int(blocked.sum()),
        params=params.name,
        lookalikes={k: int(v.sum()) for k, v in lookalike_kinds(pop).items()} if robust else {},
    )
    # One writer thread: Parquet encoding of day d (which releases the GIL) overlaps generating day d + 1, so at
    # most two days are in memory.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-writer") as writer:
        pending: Future | None = None
        for d in progress_of(range(days), "generate", unit="day", enabled=progress, every_s=10.0):
            day = (first_day + timedelta(days=d)).isoformat()
            day_start = start_s + d * DAY
            tables = {
                USAGE_EVENTS.name: events_table(pop, plan, ids, d, day_start, _rng(seed, _EVENTS_STREAM, d)),
                ACCOUNTS.name: accounts_table(pop, ids, d, day_start),
                ENFORCEMENT.name: enforcement_table(plan, ids, day_start),
            }
            for source, table in tables.items():
                summary.rows[source] += table.num_rows
            if pending is not None:
                pending.result()  # re-raises a failed write here, before more work is done
            pending = writer.submit(_write_day, zone, day, tables)
        if pending is not None:
            pending.result()
    _write_truth(truth_table(pop, ids, robust), truth_path, s3_endpoint_url)
    summary.seconds = time.perf_counter() - began
    return summary
