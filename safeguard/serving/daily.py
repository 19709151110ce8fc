"""A run's days of served scores made public: each day published to the serving database, then exported as
Parquet, in day order (what the ``risk_tables`` asset does, Dagster-free).

An empty served day is never published: publishing it would replace a day downstream teams already read with
nothing (``publish_day`` itself accepts an empty day, for the tables' own tests; this is the pipeline's rule).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from safeguard.landing import ObjectStore
from safeguard.serving.exports import ExportResult, export_day
from safeguard.serving.publish import PublishError, PublishResult, publish_day, read_served_day
from safeguard.vocabulary import SERVED_TABLE


class EmptyServedDayError(PublishError):
    """A day to publish has no served rows; nothing of it (or of the days after it) was published."""


@dataclass(frozen=True)
class PublishedDay:
    published: PublishResult
    exported: ExportResult


def publish_served_days(
    con,
    engine: Engine,
    exports: ObjectStore,
    days: Sequence[str],
    *,
    log: Callable[[str], None] = lambda _: None,
) -> list[PublishedDay]:
    """Publish and export ``days`` of ``scoring.served_risk_scores`` (warehouse connection ``con``) in order,
    each in its own transaction; an empty day stops the run with :class:`EmptyServedDayError` before it."""
    done = []
    for day in days:
        served = read_served_day(con, day)
        if served.num_rows == 0:
            raise EmptyServedDayError(
                f"{day}: no rows in {SERVED_TABLE}; materialize served_risk_scores for it first "
                "(an empty day is never published over a published one)"
            )
        result = publish_day(engine, served, day)
        done.append(PublishedDay(result, export_day(exports, served, day, published_at=result.published_at)))
        log(
            f"{day}: published {result.rows} accounts ({result.reason_rows} reasons), "
            f"current {'moved to it' if result.current_moved else 'kept on a newer day'}"
        )
    return done
