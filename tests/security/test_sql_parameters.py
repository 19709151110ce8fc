"""SQL takes values as bound parameters only (issue 8 §4): a static scan of safeguard/, assets/ and orchestration/.

What it does: parses every module and finds every string built by formatting (f-strings, ``%`` and
``.format``) whose literal text looks like SQL (a keyword such as SELECT, INSERT, DELETE, UPDATE, CREATE, DROP,
ALTER, GRANT, COPY, FROM or WHERE, in capitals). Each interpolated expression must be on the fixed allowlist
below, per module, with the reason it is not a value: a table name from the module that owns the table's schema,
column names or SQL fragments generated from that schema (the contract, the feature catalog, a SQLAlchemy Table),
a quoting helper, a placeholder list, or an integer constant. A new interpolation fails the test until someone
looks at it; an allowlist entry that no longer occurs fails it too, so the list stays true.

What it does not catch: SQL assembled by ``+`` or ``str.join`` without formatting, SQL in lowercase, SQL built in
another package (dbt's Jinja models are dbt's business, and their values come from dbt vars), or whether an
allowlisted helper really quotes; nor does it follow a value through variables: it trusts the reviewed list.

Known exceptions (:data:`VALIDATED_LITERALS`): ``safeguard/ingest_stage.py`` writes a few values into its generated SQL
as literals: the partition day (parsed as an ISO date first), the ingestion clock time, an integer file sequence
and contract strings through its ``_lit`` quoting helper. None comes from the landing data, so none can carry an
injection, but they are values; binding them (``?::DATE``, ``?::TIMESTAMP``, ``UNNEST(?::DATE[])``) is the fix
that would let this list go.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("safeguard", "assets", "orchestration")
SQL_WORD = re.compile(r"\b(SELECT|INSERT|DELETE|UPDATE|CREATE|DROP|ALTER|GRANT|REVOKE|COPY|TRUNCATE|FROM|WHERE)\b")

TABLE = "a table name constant of the module that owns the table's schema"
STAGE = "the name of ingestion's own temporary stage table (_ingest_stage_<source>)"
FRAGMENT = "column names or SQL generated from the owning schema (contract / catalog / SQLAlchemy Table)"
QUOTED = "identifiers passed through a quoting helper"
LIMIT = "an integer module constant"
PLACEHOLDERS = "a list of '?' placeholders"

ALLOWED: dict[str, dict[str, str]] = {
    "safeguard/content_hash.py": {"_quoted(table)": QUOTED, "', '.join(selected)": QUOTED},
    "safeguard/contract.py": {"QUARANTINE_TABLE": TABLE, "source.raw_table": TABLE},
    "safeguard/scoring.py": {"SCORES_TABLE": TABLE, "FEATURES_TABLE": TABLE},
    "safeguard/spark_scoring.py": {"quoted": QUOTED + " (a database name checked by table_name, in backticks)"},
    "safeguard/examples.py": {
        "table": TABLE + " (EXAMPLES_TABLE by default)",
        "WEIGHT_COLUMN": FRAGMENT,
        "late_evidence": TABLE + " (LATE_EVIDENCE_TABLE by default)",
        "late": FRAGMENT + " (coalesce of the LATE_COLUMNS constants)",
        "rare": FRAGMENT + " (conditions on label and the LATE_COLUMNS constants)",
        "source": FRAGMENT + " (the examples table, or a subquery joining it with the late-evidence view)",
    },
    "safeguard/release_report.py": {
        "cols": FRAGMENT + " (key columns and safeguard.baseline.DEFAULT_SIGNALS, constants)"
    },
    "safeguard/warehouse.py": {"table": TABLE + " (create_table_ddl's table, a constant of its owner)"},
    "safeguard/linked_reasons.py": {"ENFORCED_LINKS_TABLE": TABLE},
    "safeguard/review/labels.py": {"REVIEW_LABELS_TABLE": TABLE},
    "safeguard/review/links.py": {
        "SNAPSHOT_TABLE": TABLE,
        "kind": FRAGMENT + " (a key of the LINK_COLUMNS constant)",
        "column": FRAGMENT + " (a value of the LINK_COLUMNS constant)",
        "values": FRAGMENT + " (a union of SELECTs over the LINK_COLUMNS constants)",
    },
    "safeguard/rollout/served.py": {
        "SCORES_TABLE": TABLE,
        "SERVED_TABLE": TABLE,
        "_SERVE_SQL": FRAGMENT,
        "column": FRAGMENT + " (_counts is called with literal column names only)",
    },
    "safeguard/rollout/evaluation.py": {
        "SCORES_TABLE": TABLE,
        "EXAMPLES_TABLE": TABLE,
        "FEATURES_TABLE": TABLE,
        "BACKTEST_SCORES_TABLE": TABLE + " (owned by safeguard/rollout/backtest_replay.py)",
        "_candidate_scores_source(con)": FRAGMENT + " (a union of the two score tables, table constants only)",
        "source": FRAGMENT + " (the same union, _candidate_scores_source)",
        "columns": QUOTED + " (the model's feature names)",
        "ARM_SAMPLE_ROWS": LIMIT,
        "REFERENCE_SAMPLE_ROWS": LIMIT,
    },
    "safeguard/rollout/backtest_replay.py": {
        "BACKTEST_SCORES_TABLE": TABLE,
        "SCORES_TABLE": TABLE + " (safeguard/scoring.py)",
        "EXAMPLES_TABLE": TABLE + " (safeguard/examples.py)",
        "FEATURES_TABLE": TABLE + " (safeguard/scoring.py)",
        "labels": FRAGMENT + " (a day's rows of EXAMPLES_TABLE, or an empty stand-in when it does not exist)",
        "champion_scores": FRAGMENT + " (a day's rows of SCORES_TABLE, or an empty stand-in when it does not exist)",
        "tiers": FRAGMENT + " (a list literal of the TIERS constant)",
        "_CHAMPION_PROBABILITY": FRAGMENT + " (a column alias constant of the module)",
        "_CHAMPION_TIER": FRAGMENT + " (a column alias constant of the module)",
        "_LABEL": FRAGMENT + " (a column alias constant of the module)",
        "_ACCOUNT_KEY": FRAGMENT + " (a column alias constant of the module)",
    },
    "safeguard/serving/publish.py": {"SERVED_TABLE": TABLE},
    "safeguard/serving/bulk_insert.py": {
        "table.name": TABLE,
        "columns": FRAGMENT,
        "names": FRAGMENT,
        "', '.join('?' * rows.num_columns)": PLACEHOLDERS,
    },
    "safeguard/load_log.py": {
        "LOADS_TABLE": TABLE,
        "', '.join(('?::DATE' for _ in days))": PLACEHOLDERS + " (typed as DATE)",
    },
    "safeguard/volume.py": {"LOADS_TABLE": TABLE + " (owned by safeguard/load_log.py)"},
    "safeguard/spark_raw.py": {
        "table": TABLE + " (raw.<source> of the contract, or raw.review_labels)",
        "where": "a fixed condition of this module, its values bound as parameters",
    },
    "safeguard/serving/migrations/versions/0003_readonly_role.py": {"', '.join(READABLE_TABLES)": TABLE},
    "safeguard/ingest.py": {"column_list(source)": FRAGMENT, "stage.name": STAGE},
    "safeguard/ingest_stage.py": {
        "QUARANTINE_TABLE": TABLE,
        "source.raw_table": TABLE,
        "self.source.raw_table": TABLE,
        "raw": TABLE,
        "self.name": STAGE,
        "view": STAGE,
        "cols": FRAGMENT,
        "casts": FRAGMENT,
        "outputs": FRAGMENT,
        "original": FRAGMENT,
        "extra_json": FRAGMENT,
        "which": FRAGMENT,
        "detail": FRAGMENT,
        "reasons": FRAGMENT,
        "reason": FRAGMENT,
        "row_json": FRAGMENT,
        "_ROW_ORDINAL": FRAGMENT,
        "same('r', 'b')": FRAGMENT,
        "same('s', 'r')": FRAGMENT,
        "same('t', 'repeated')": FRAGMENT,
        "shown('s')": FRAGMENT,
        "shown('t')": FRAGMENT,
        "', '.join(keys)": FRAGMENT,
        "', '.join((f'r.{k}' for k in keys))": FRAGMENT,
        "', '.join((f't.{k}' for k in keys))": FRAGMENT,
        "self.quarantine_select(now)": FRAGMENT + " (its own values are listed in VALIDATED_LITERALS)",
    },
}

# Values written as SQL literals: see the module doc. Each is validated or produced by the code itself.
VALIDATED_LITERALS: dict[str, dict[str, str]] = {
    "safeguard/ingest_stage.py": {
        "day": "the partition day, parsed by iso_day before use",
        "file_seq": "an integer from itertools.count()",
        "now.isoformat(sep=' ')": "the ingestion clock time",
        "ingested_at.isoformat(sep=' ')": "the ingestion clock time",
        "in_days": "partition days, parsed by iso_day, quoted by quote_literal",
        "replaced": "partition days, parsed by iso_day",
        "quote_literal(self.source.name)": "a contract source name, quoted by quote_literal",
    },
}


def _literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def formatted_sql(path: Path) -> list[tuple[int, str]]:
    """(line, interpolated expression) of every SQL-looking string built by formatting in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.JoinedStr):
            text = "".join(_literal_text(v) or "" for v in node.values)
            if SQL_WORD.search(text):
                found += [(node.lineno, ast.unparse(v.value)) for v in node.values if isinstance(v, ast.FormattedValue)]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            text = _literal_text(node.left)
            if text and SQL_WORD.search(text):
                found.append((node.lineno, f"% {ast.unparse(node.right)}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            text = _literal_text(node.func.value)
            if text and SQL_WORD.search(text):
                found += [(node.lineno, f".format {ast.unparse(a)}") for a in [*node.args, *node.keywords]]
    return found


def scan() -> dict[str, list[tuple[int, str]]]:
    result = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if found := formatted_sql(path):
                result[str(path.relative_to(ROOT))] = found
    return result


def test_sql_is_formatted_only_with_allowlisted_identifiers():
    found = scan()
    unexpected = [
        f"{module}:{line}: {expression}"
        for module, items in found.items()
        for line, expression in items
        if expression not in ALLOWED.get(module, {}) and expression not in VALIDATED_LITERALS.get(module, {})
    ]
    assert not unexpected, (
        "SQL built by formatting with expressions that are not allowlisted identifiers; bind values as "
        "parameters, or add an identifier to ALLOWED with its reason:\n" + "\n".join(unexpected)
    )
    used = {(module, expression) for module, items in found.items() for _, expression in items}
    stale = [
        (module, expression)
        for table in (ALLOWED, VALIDATED_LITERALS)
        for module, entries in table.items()
        for expression in entries
        if (module, expression) not in used
    ]
    assert not stale, f"allowlist entries that no longer occur (remove them): {stale}"


def test_the_scan_catches_values_formatted_into_sql(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(con, account_id, day):\n"
        "    con.execute(f\"SELECT * FROM t WHERE account_id = '{account_id}'\")\n"
        "    con.execute(\"DELETE FROM t WHERE day = '%s'\" % day)\n"
        '    con.execute("UPDATE t SET x = {}".format(account_id))\n'
        '    con.execute("SELECT * FROM t WHERE account_id = ?", [account_id])\n'
    )
    assert formatted_sql(bad) == [(2, "account_id"), (3, "% day"), (4, ".format account_id")]
