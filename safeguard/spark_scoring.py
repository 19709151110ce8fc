"""Scoring with reasons as a Spark job (issue 18): the same scores, tiers and SHAP reasons as the single-machine
path, computed shard by shard on a cluster.

The features of a day are cut into ``shards`` by a hash of ``account_id`` (``repartition``); each shard streams to
a Python worker as Arrow batches (``mapInArrow``), and every batch is scored by
:func:`safeguard.scoring.score_accounts`, the function the daily ``account_risk_scores`` asset runs. That is why the
two paths agree exactly: every figure of a row depends only on that row and the day (the monitoring sample is a
hash of account and day, the reasons are the row's own TreeSHAP values), never on which other rows share a batch.
The models travel to the workers inside the task (cloudpickle), so this works the same under Spark Connect.

Each batch also checks SHAP additivity (the contributions sum to the raw margin within
:data:`safeguard.explain.ADDITIVITY_TOLERANCE`) and fails the task, naming the day and model, when they do not.

Written as a table partitioned by ``score_date``; :func:`write_spark_scores` replaces exactly the day's partition
(dynamic partition overwrite), so a re-run of a day replaces that day and nothing else.

Run it on a cluster with ``spark-submit`` (or from a Dagster op through Spark Connect):
``python -m safeguard.spark_scoring --date 2026-10-01 --features marts.fct_account_features
--scores scoring.account_risk_scores --shards 2000``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Iterator, Sequence
from datetime import date

import pyarrow as pa

from safeguard import explain
from safeguard.risk_model import TrainedModel
from safeguard.scoring import SCORES_SCHEMA, ScoringError, score_accounts

_SPARK_TYPES = {pa.date32(): "DATE", pa.string(): "STRING", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}


def spark_ddl(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema of the types the scores use (one owner: SCORES_SCHEMA)."""
    unknown = [f"{f.name}: {f.type}" for f in schema if f.type not in _SPARK_TYPES]
    if unknown:
        raise ValueError(f"no Spark type for {unknown}")
    return ", ".join(f"{f.name} {_SPARK_TYPES[f.type]}" for f in schema)


SCORES_DDL = spark_ddl(SCORES_SCHEMA)


def score_shards(
    features,
    models: Sequence[tuple[str, TrainedModel]],
    score_date: str,
    *,
    shards: int,
    sample_rate: float = explain.DEFAULT_SAMPLE_RATE,
    top_k: int = explain.DEFAULT_TOP_REASONS,
):
    """Score one day's ``features`` (a Spark DataFrame: ``account_id``, ``as_of_date`` and every model's feature
    columns) with each ``(role, model)``, in ``shards`` shards by account hash. Returns a Spark DataFrame of
    :data:`safeguard.scoring.SCORES_SCHEMA` rows; nothing runs until it is written or collected."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    # the training examples a freshly trained model still holds are not needed to score; they would ride in every task
    pairs = [(role, dataclasses.replace(model, validation_examples=None)) for role, model in models]
    if not pairs:
        raise ScoringError(f"no model to score {score_date} with")
    needed = ["account_id", "as_of_date", *dict.fromkeys(name for _, m in pairs for name in m.feature_names)]
    missing = [c for c in needed if c not in features.columns]
    if missing:
        raise ScoringError(f"features for {score_date}: missing column(s) {missing}")

    def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            scored = score_accounts(
                pa.Table.from_batches([batch]), pairs, score_date, sample_rate=sample_rate, top_k=top_k
            )
            if scored.additivity_error > explain.ADDITIVITY_TOLERANCE:
                raise ScoringError(
                    f"{score_date}: SHAP contributions miss the raw margin by {scored.additivity_error:.3g} "
                    f"(tolerance {explain.ADDITIVITY_TOLERANCE}) on a shard of {batch.num_rows} accounts"
                )
            yield from scored.table.to_batches()

    return features.select(*needed).repartition(shards, "account_id").mapInArrow(score_batches, SCORES_DDL)


def write_spark_scores(scores, table: str) -> None:
    """Write ``scores`` into ``table`` (Parquet, partitioned by score_date), replacing exactly the partitions
    (days) present in ``scores``; the table is created on first use."""
    spark = scores.sparkSession
    if not spark.catalog.tableExists(table):
        scores.write.format("parquet").partitionBy("score_date").saveAsTable(table)
        return
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    columns = spark.table(table).columns  # insertInto is positional: the table's column order
    scores.select(*columns).write.insertInto(table, overwrite=True)


_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def table_name(text: str) -> str:
    """A Spark table name, ``table`` or ``database.table``, of letters, digits and underscores (it is written into
    SQL as an identifier, never as a value)."""
    if not _TABLE_NAME.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a table name (database.table, letters, digits, _)")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Score a day of a Spark features table with the registry's champion and candidates; write the scores."""
    parser = argparse.ArgumentParser(prog="python -m safeguard.spark_scoring", description=main.__doc__)
    parser.add_argument(
        "--date", required=True, type=date.fromisoformat, help="the score day (as_of_date of the features), YYYY-MM-DD"
    )
    parser.add_argument(
        "--features", type=table_name, default="marts.fct_account_features", help="the Spark features table"
    )
    parser.add_argument(
        "--scores", type=table_name, default="scoring.account_risk_scores", help="the Spark scores table to write"
    )
    parser.add_argument("--shards", type=int, default=200, help="account-hash shards (tasks) of the day")
    args = parser.parse_args(argv)

    from safeguard.spark_engine import SparkUnavailable, spark_session
    from safeguard.stores import configured_model_store, open_serving_stores

    try:
        spark = spark_session("safeguard-scoring")
    except SparkUnavailable as e:
        print(f"safeguard spark scoring: {e}", file=sys.stderr)
        return 2
    with open_serving_stores(model_store=configured_model_store(), migrate=False) as stores:
        champion = stores.registry.champion()
        if champion is None:
            print("safeguard spark scoring: the registry has no champion to score with", file=sys.stderr)
            return 1
        models = [("champion", stores.registry.load(champion.version))]
        models += [("candidate", stores.registry.load(m.version)) for m in stores.registry.candidates()]
    from pyspark.sql import functions as F

    day = args.date.isoformat()
    features = spark.table(args.features).where(F.col("as_of_date") == F.lit(args.date))
    database = args.scores.rsplit(".", 1)[0] if "." in args.scores else None
    if database:
        quoted = f"`{database}`"  # checked by table_name: letters, digits and underscores only
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {quoted}")
    write_spark_scores(score_shards(features, models, day, shards=args.shards), args.scores)
    print(f"{day}: scored with {', '.join(m.version for _, m in models)} into {args.scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
