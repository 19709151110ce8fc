"""A deterministic content hash of a table, to prove that running something twice wrote the same data.

The hash covers the table's rows as a multiset: row order, column order and the storage engine's physical layout
do not change it; any changed, added or removed value does. It is type-aware: every cell is written with a tag of
its value's kind (integer, float, decimal, string, boolean, date, timestamp, time, nested), so ``1``, ``1.0``,
``'1'`` and ``true`` differ, and NULL differs from ``''`` and ``'None'``. Kinds, not exact types: an INTEGER
column and a BIGINT column holding the same numbers hash alike, so the same rows hash alike in DuckDB, SQLite
and PostgreSQL (timestamps as naive UTC, the house convention; an aware timestamp is taken at its UTC instant).

How: each column is rendered as text in Arrow (floats in their shortest round-trip form, so a hash changes with
the last bit of a float), each cell framed as ``tag + length + ':' + text`` (unambiguous whatever the text
holds), the cells of a row joined, the rows sorted, and the sorted rows fed to SHA-256 after a header naming the
columns. Vectorized end to end (Arrow compute); the table is held in memory once, so this is for test- and
audit-sized tables, not for hashing a billion-row fact table.

Sources: a DuckDB connection, or a SQLAlchemy engine or connection (SQLite, PostgreSQL). Columns that record
*when* something ran (``published_at``, ``_ingested_at``) can be left out by name; naming a column the table
does not have is an error, so a list of exclusions cannot go stale silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

Source = duckdb.DuckDBPyConnection | sa.Engine | sa.Connection

NULL_CELL = "N"
CELL_SEPARATOR = "\x1f"  # between the cells of a row (cells are length-framed, so this is for readability)
# DuckDB types read as text in SQL: Arrow cannot render nested or binary values as text itself.
_DUCKDB_AS_TEXT = ("[]", "STRUCT", "MAP", "UNION", "BLOB", "JSON", "BIT", "INTERVAL")
# System schemas of DuckDB's catalog: never a table of ours.
_DUCKDB_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")


class ContentHashError(ValueError):
    """A table cannot be hashed as asked; the message names the table and the column."""


@dataclass(frozen=True)
class TableDigest:
    """The content hash of one table: what was hashed and what was left out."""

    table: str
    rows: int
    columns: tuple[str, ...]  # hashed, sorted by name
    excluded: tuple[str, ...]  # left out by name, sorted
    sha256: str


# Each value kind's one-letter tag (see the module doc), by the Arrow type test that recognizes it.
_KINDS: tuple[tuple[Callable[[pa.DataType], bool], str], ...] = (
    (pa.types.is_integer, "i"),
    (pa.types.is_floating, "f"),
    (pa.types.is_decimal, "d"),
    (pa.types.is_boolean, "b"),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "s"),
    (pa.types.is_date, "D"),
    (pa.types.is_timestamp, "T"),
    (pa.types.is_time, "t"),
    (pa.types.is_null, "0"),  # a column with no value at all: every cell is NULL
)


def _kind(type_: pa.DataType) -> str:
    """The one-letter tag of a column's value kind (see the module doc)."""
    for is_kind, tag in _KINDS:
        if is_kind(type_):
            return tag
    raise ContentHashError(f"no canonical text for Arrow type {type_}; read the column as text first")


def _as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The column's values as canonical text (nulls stay null)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    type_ = column.type
    if pa.types.is_null(type_):
        return pa.nulls(len(column), pa.string())
    if pa.types.is_floating(type_):
        column = pc.add(pc.cast(column, pa.float64()), 0.0)  # -0.0 + 0.0 = 0.0: one zero
    elif pa.types.is_timestamp(type_):
        column = pc.cast(column, pa.timestamp("us"))  # aware: its UTC instant; one unit for every engine
    elif pa.types.is_date(type_):
        column = pc.cast(column, pa.date32())
    elif pa.types.is_boolean(type_):
        return pc.if_else(column, "true", "false")
    return pc.cast(column, pa.string())


def _cells(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Each value framed as ``tag + length + ':' + text``, NULL as ``N``."""
    tag = _kind(column.type)
    text = _as_text(column)
    framed = pc.binary_join_element_wise(tag, pc.cast(pc.utf8_length(text), pa.string()), ":", text, "")
    return pc.fill_null(framed, NULL_CELL)


def canonical_rows(table: pa.Table) -> pa.Array:
    """Every row of ``table`` as one canonical string, columns in name order, rows sorted.

    Equal multisets of rows give equal arrays; a test can diff two of them to show which rows changed.
    """
    names = sorted(table.column_names)
    if not names:
        raise ContentHashError("a table without columns has no content to hash")
    cells = [_cells(table.column(name)) for name in names]
    rows = pc.binary_join_element_wise(*cells, CELL_SEPARATOR) if len(cells) > 1 else cells[0]
    rows = pc.cast(rows, pa.large_string())
    return rows.take(pc.sort_indices(rows))


def arrow_sha256(table: pa.Table) -> str:
    """The content hash of an Arrow table (see the module doc)."""
    names = sorted(table.column_names)
    rows = canonical_rows(table)
    header = CELL_SEPARATOR.join(f"{name}:{_kind(table.schema.field(name).type)}" for name in names)
    digest = hashlib.sha256(f"{header}\n{len(rows)}\n".encode())
    if len(rows):
        one_list = pa.LargeListArray.from_arrays(pa.array([0, len(rows)], pa.int64()), rows)
        digest.update(pc.binary_join(one_list, pa.scalar("\n", pa.large_string()))[0].as_py().encode())
    return digest.hexdigest()


def _quoted(name: str) -> str:
    """A (possibly schema-qualified) identifier quoted for DuckDB: ``raw.usage_events`` -> ``"raw"."usage_events"``."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _split(name: str) -> tuple[str | None, str]:
    schema, _, table = name.rpartition(".")
    return schema or None, table


def _checked_exclusions(table: str, columns: list[str], exclude: Iterable[str]) -> set[str]:
    excluded = set(exclude)
    unknown = sorted(excluded - set(columns))
    if unknown:
        raise ContentHashError(f"{table}: cannot exclude column(s) {unknown}: not in the table ({columns})")
    return excluded


def _read_duckdb(con: duckdb.DuckDBPyConnection, table: str, exclude: Iterable[str]) -> tuple[pa.Table, set[str]]:
    schema, name = _split(table)
    described = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = coalesce(?, current_schema()) ORDER BY ordinal_position",
        [name, schema],
    ).fetchall()
    if not described:
        raise ContentHashError(f"no table or view {table!r} in the DuckDB database")
    excluded = _checked_exclusions(table, [c for c, _ in described], exclude)
    selected = [
        f"CAST({_quoted(c)} AS VARCHAR) AS {_quoted(c)}" if any(k in t for k in _DUCKDB_AS_TEXT) else _quoted(c)
        for c, t in described
        if c not in excluded
    ]
    if not selected:
        raise ContentHashError(f"{table}: every column is excluded; nothing left to hash")
    # Identifiers only, each checked against the catalog above and quoted; no value is interpolated.
    return con.execute(f"SELECT {', '.join(selected)} FROM {_quoted(table)}").to_arrow_table(), excluded


def _read_sqlalchemy(
    source: sa.Engine | sa.Connection, table: str, exclude: Iterable[str]
) -> tuple[pa.Table, set[str]]:
    schema, name = _split(table)
    try:
        reflected = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=source)
    except sa.exc.NoSuchTableError as e:
        raise ContentHashError(f"no table {table!r} in the database {_safe_url(source)}") from e
    excluded = _checked_exclusions(table, [c.name for c in reflected.columns], exclude)
    selected = [
        # JSON as the text the database holds: parsed objects have no canonical text of their own.
        sa.cast(c, sa.Text).label(c.name) if isinstance(c.type, sa.JSON) else c
        for c in reflected.columns
        if c.name not in excluded
    ]
    if not selected:
        raise ContentHashError(f"{table}: every column is excluded; nothing left to hash")
    statement = sa.select(*selected)
    if isinstance(source, sa.Connection):
        rows = source.execute(statement).all()
    else:
        with source.connect() as conn:
            rows = conn.execute(statement).all()
    names = [c.name for c in selected]
    columns = list(zip(*rows)) if rows else [()] * len(names)
    arrays = {}
    for column_name, values, column in zip(names, columns, selected):
        try:
            arrays[column_name] = pa.array(values, type=_arrow_type(column.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ContentHashError(f"{table}.{column_name}: values that do not fit its SQL type ({e})") from e
    return pa.table(arrays), excluded


# SQL types in the order they are tried (Float before Numeric: it is one); a type not listed is inferred.
_ARROW_TYPES = (
    (sa.Boolean, pa.bool_()),
    (sa.Integer, pa.int64()),
    (sa.Float, pa.float64()),
    (sa.DateTime, pa.timestamp("us")),
    (sa.Date, pa.date32()),
    (sa.String, pa.string()),
)


def _arrow_type(sql_type: sa.types.TypeEngine) -> pa.DataType | None:
    """The Arrow type of a column from its declared SQL type, so the hash does not depend on which values it holds
    (an all-NULL column included); ``None`` (inferred from the values) for other types, such as NUMERIC."""
    for sql, arrow in _ARROW_TYPES:
        if isinstance(sql_type, sql):
            return arrow
    return None


def _safe_url(source: sa.Engine | sa.Connection) -> str:
    engine = source if isinstance(source, sa.Engine) else source.engine
    return engine.url.render_as_string(hide_password=True)


def read_table(source: Source, table: str, *, exclude: Iterable[str] = ()) -> tuple[pa.Table, tuple[str, ...]]:
    """The table's rows as Arrow without the ``exclude`` columns, and the columns left out (sorted)."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        data, excluded = _read_duckdb(source, table, exclude)
    elif isinstance(source, sa.Engine | sa.Connection):
        data, excluded = _read_sqlalchemy(source, table, exclude)
    else:
        raise TypeError(f"expected a DuckDB connection or a SQLAlchemy engine/connection, got {type(source).__name__}")
    return data, tuple(sorted(excluded))


def table_digest(source: Source, table: str, *, exclude: Iterable[str] = ()) -> TableDigest:
    """The content hash of ``table`` (``schema.name`` or ``name``) in ``source``, without the ``exclude`` columns."""
    data, excluded = read_table(source, table, exclude=exclude)
    return TableDigest(table, data.num_rows, tuple(sorted(data.column_names)), excluded, arrow_sha256(data))


def list_tables(source: Source) -> list[str]:
    """Every table and view of the database, sorted: ``schema.name`` in DuckDB (system schemas left out), the
    bare name in a SQLAlchemy database's default schema."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        rows = source.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema NOT IN (SELECT UNNEST(?::VARCHAR[]))",
            [list(_DUCKDB_SYSTEM_SCHEMAS)],
        ).fetchall()
        return sorted(r[0] for r in rows)
    inspector = sa.inspect(source)
    return sorted([*inspector.get_table_names(), *inspector.get_view_names()])


def database_digests(source: Source, exclude: dict[str, Iterable[str]] | None = None) -> dict[str, TableDigest]:
    """:func:`table_digest` of every table of :func:`list_tables`, ``exclude`` naming columns per table.

    A table named in ``exclude`` that the database lacks is an error (the exclusions must stay true).
    """
    exclude = exclude or {}
    tables = list_tables(source)
    missing = sorted(set(exclude) - set(tables))
    if missing:
        raise ContentHashError(f"exclusions name table(s) {missing} that the database does not have")
    return {t: table_digest(source, t, exclude=exclude.get(t, ())) for t in tables}
