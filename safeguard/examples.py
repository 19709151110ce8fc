"""The training examples: their columns, how they are read from the warehouse, and their weights.

``marts.fct_training_examples`` holds one row per account and as_of_date D: the features as of D and the label
"suspend or ban (not reinstated) in (D, D+H]" (design §3.2). Millions of accounts × many days do not fit in
memory, so :func:`read_training_examples` samples inside DuckDB (negatives first) and gives each kept row
``sample_weight`` = 1/rate, which keeps every estimate about the full population.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from safeguard.warehouse import table_exists

KEY_COLUMNS = ("account_id", "as_of_date")
LABEL_COLUMN = "label"
WEIGHT_COLUMN = "sample_weight"  # optional: set by read_training_examples when it samples rows
EXAMPLES_TABLE = "marts.fct_training_examples"
# Late evidence (a block or warning up to twice the label horizon after D, as known now): a view beside the
# examples; read_training_examples joins it as LATE_COLUMNS (0 where there is none). safeguard.labels uses it.
LATE_EVIDENCE_TABLE = "marts.fct_training_late_evidence"
LATE_COLUMNS = ("late_blocked", "late_warned")
DEFAULT_MAX_READ_ROWS = 3_000_000


class TrainingDataError(ValueError):
    """The training examples cannot train a model; the message says what is missing and where."""


_NUMERIC_ARROW_TYPES = (
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_decimal,
    pa.types.is_boolean,
    pa.types.is_null,
)


def feature_matrix(frame: pd.DataFrame | pa.Table, names: Sequence[str], *, where: str = "features") -> np.ndarray:
    """The feature columns of ``frame`` in the model's order as float64 (nulls -> NaN, booleans -> 0/1).

    An Arrow table (the backtest's reads) is copied column by column straight into a row-major matrix, what
    LightGBM reads, with no pandas frame in between; the same checks and messages."""
    columns = frame.column_names if isinstance(frame, pa.Table) else frame.columns
    missing = [n for n in names if n not in columns]
    if missing:
        raise TrainingDataError(f"{where}: missing feature column(s) {missing}")
    if isinstance(frame, pa.Table):
        types = {n: frame.schema.field(n).type for n in names}
        bad = [f"{n} ({t})" for n, t in types.items() if not any(numeric(t) for numeric in _NUMERIC_ARROW_TYPES)]
    else:
        bad = [
            f"{n} ({frame[n].dtype})"
            for n in names
            if not (pd.api.types.is_numeric_dtype(frame[n]) or pd.api.types.is_bool_dtype(frame[n]))
        ]
    if bad:
        raise TrainingDataError(f"{where}: feature column(s) must be numeric, got {bad}")
    if not isinstance(frame, pa.Table):
        return frame[list(names)].to_numpy(dtype=np.float64, na_value=np.nan)
    X = np.empty((frame.num_rows, len(names)))
    for j, n in enumerate(names):
        X[:, j] = pc.fill_null(frame.column(n).cast(pa.float64()), np.nan).to_numpy()
    return X


def sampling_rates(n_pos: int, n_neg: int, max_rows: int) -> tuple[float, float]:
    """Keep rates (positives, negatives) so about ``max_rows`` rows remain: negatives go first; positives are
    thinned only when they alone would take more than half of the budget."""
    if n_pos + n_neg <= max_rows:
        return 1.0, 1.0
    pos_rate = min(1.0, (max_rows / 2) / max(n_pos, 1))
    neg_rate = min(1.0, (max_rows - pos_rate * n_pos) / max(n_neg, 1))
    return pos_rate, max(neg_rate, 1e-6)


def read_training_examples(
    con,
    *,
    max_rows: int = DEFAULT_MAX_READ_ROWS,
    table: str = EXAMPLES_TABLE,
    late_evidence: str | None = LATE_EVIDENCE_TABLE,
) -> pd.DataFrame:
    """The training examples from the warehouse, sampled inside DuckDB to at most about ``max_rows`` rows, with
    the late-evidence columns (:data:`LATE_COLUMNS`) joined from ``late_evidence`` when that relation exists.

    Millions of accounts × many days do not fit in memory; each class is kept at a rate (see
    :func:`sampling_rates`) by a deterministic hash of (account_id, as_of_date), and ``sample_weight`` = 1/rate
    lets training, calibration and every metric estimate the full population. The kept-in-full class is every
    example with a positive label or any late evidence: the rare rows every label policy may learn from.
    """
    if late_evidence and table_exists(con, late_evidence):
        late = ", ".join(f"coalesce(late.{c}, 0) AS {c}" for c in LATE_COLUMNS)
        source = (
            f"(SELECT examples.*, {late} FROM {table} AS examples "
            f"LEFT JOIN {late_evidence} AS late USING (account_id, as_of_date))"
        )
        rare = "label = 1 OR " + " OR ".join(f"{c} = 1" for c in LATE_COLUMNS)
    else:
        source, rare = table, "label = 1"
    n_pos, n_all = con.execute(f"SELECT count(*) FILTER (WHERE {rare}), count(*) FROM {source} AS counted").fetchone()
    pos_rate, neg_rate = sampling_rates(int(n_pos), int(n_all - n_pos), max_rows)
    return con.execute(
        f"""
        WITH rated AS (
            SELECT *, CASE WHEN {rare} THEN ?::DOUBLE ELSE ?::DOUBLE END AS _rate
            FROM {source} AS source
        )
        SELECT * EXCLUDE (_rate), 1.0 / _rate AS {WEIGHT_COLUMN}
        FROM rated
        WHERE _rate >= 1.0
           OR (hash(account_id || '|' || CAST(as_of_date AS VARCHAR)) % 1000000) < _rate * 1000000
        ORDER BY as_of_date, account_id
        """,
        [pos_rate, neg_rate],
    ).df()


def example_weights(examples: pd.DataFrame) -> np.ndarray:
    if WEIGHT_COLUMN not in examples.columns:
        return np.ones(len(examples))
    return examples[WEIGHT_COLUMN].to_numpy(dtype=np.float64)
