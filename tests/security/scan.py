"""Look for raw personal data in tables: values that look like an email address, an IPv4 or IPv6 address, a phone
number or a payment card number, and column names that suggest a personal identifier.

Vectorized: each string column is matched with RE2 patterns in Arrow; only the few matches go through Python
(the Luhn check of a card candidate). RE2 has no look-around, so each pattern spells out its own boundaries.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX = r"[0-9A-Fa-f]{1,4}"
PATTERNS = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "ipv4": rf"(^|[^0-9.]){_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}([^0-9.]|$)",
    # The full form, or a compressed one ('::') with hex groups on both sides or a leading '::' before a group.
    "ipv6": rf"(^|[^0-9A-Za-z:])(({_HEX}:){{7}}{_HEX}|({_HEX}:)+:({_HEX}(:{_HEX})*)?|::{_HEX}(:{_HEX})*)([^0-9A-Za-z:]|$)",
    "phone": r"(^|[^0-9A-Za-z+])(\+[1-9][0-9]{7,14}|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4})([^0-9A-Za-z]|$)",
    # 13 to 19 digits, optionally in groups split by spaces or dashes; confirmed by the Luhn check below.
    "card": r"(^|[^0-9A-Za-z.])[0-9]{4}([ -]?[0-9]){9,15}([^0-9A-Za-z.]|$)",
}
_CARD_DIGITS = re.compile(r"[0-9](?:[ -]?[0-9]){12,18}")

# Column names that suggest a personal identifier or an attribute of one.
IDENTIFIER_NAME = re.compile(r"(^|_)(ip|ips|email|phone|device|payment|card|fingerprint|address|user_agent|name)(_|$)")


def luhn_valid(digits: str) -> bool:
    numbers = [int(d) for d in digits][::-1]
    total = sum(numbers[0::2]) + sum(sum(divmod(2 * d, 10)) for d in numbers[1::2])
    return total % 10 == 0


def _is_card(text: str) -> bool:
    return any(luhn_valid(re.sub(r"[ -]", "", m.group())) for m in _CARD_DIGITS.finditer(text))


def personal_data(table: pa.Table, *, examples: int = 3) -> dict[str, dict[str, list[str]]]:
    """``{column: {kind: [example values]}}`` for every string column holding a value of a personal kind."""
    found: dict[str, dict[str, list[str]]] = {}
    for name in table.column_names:
        column = table.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        for kind, pattern in PATTERNS.items():
            hits = column.filter(pc.fill_null(pc.match_substring_regex(column, pattern), False))
            values = hits.to_pylist()
            if kind == "card":
                values = [v for v in values if _is_card(v)]
            if values:
                found.setdefault(name, {})[kind] = values[:examples]
    return found
