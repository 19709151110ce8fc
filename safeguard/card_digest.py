"""A model card's headline in about ten lines, for a terminal (``safeguard model show --brief``, ``make demo``).

The card (:mod:`safeguard.model_card`) is Markdown for the UI and the file next to the artifact; its tables are wide
and long. The digest reads the card itself (so it can never disagree with it) and keeps what a newcomer reads
first: when and on what the model was trained, its validation figures next to the rules baseline (and the
champion's, for a retrain), the tier thresholds with their target and observed precision, the gate's verdict, the
top features and the detection headline on the synthetic world's truth. Everything else is one command away.
"""

from __future__ import annotations

from collections.abc import Iterator

FOOTER = "(the whole card: safeguard model show, or the risk_model asset in the UI)"
METRICS = {  # card row -> short name, in the order printed
    "AUC-PR": "AUC-PR",
    "AUC-ROC": "AUC-ROC",
    "Recall at 1% FPR": "recall at 1% FPR",
    "Expected calibration error": "ECE",
}
TOP_FEATURES = 5
_KEPT_LINES = ("Created ", "- validation", "- served model:", "Overall:")


def _sections(card: str) -> Iterator[tuple[str, list[str]]]:
    title, lines = "", []
    for line in card.splitlines():
        if line.startswith("#"):
            yield title, lines
            title, lines = line, []
        else:
            lines.append(line)
    yield title, lines


def _table(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the first Markdown table in ``lines``."""
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if line.startswith("|")]
    if len(cells) < 2:
        return [], []
    return cells[0], cells[2:]  # cells[1] is the |---| rule


def _metrics_line(lines: list[str]) -> str | None:
    header, rows = _table(lines)
    if not rows:
        return None
    others = header[2:]  # rules baseline, then the champion's column for a retrain
    parts = [
        f"{METRICS[row[0]]} {row[1]}" + "".join(f" / {v}" for v in row[2:])
        for name in METRICS
        for row in rows
        if row[0] == name
    ]
    columns = f" (model / {' / '.join(others)})" if others else ""
    return f"validation{columns}: " + " · ".join(parts)


def _tiers_line(lines: list[str]) -> str | None:
    _, rows = _table(lines)
    if not rows:
        return None
    # tier | threshold | target precision | validation precision | validation accounts | method
    parts = [f"{r[0]} >= {r[1]} (precision {r[3]} for a target of {r[2]}, {r[4]} accounts)" for r in rows]
    return "tiers: " + " · ".join(parts)


def _features_line(lines: list[str]) -> str | None:
    header, rows = _table(lines)
    if not rows or "gain_share" not in header:
        return None
    share = header.index("gain_share")
    parts = [f"{r[0]} {float(r[share]):.0%}" for r in rows[:TOP_FEATURES]]
    return "top features (share of gain): " + " · ".join(parts)


def _kept(line: str) -> str:
    if line.startswith("- validation"):  # "- validation (how it was chosen): window (rows, positives)"
        return "validation window: " + line.split("): ", 1)[-1]
    if line.startswith("Overall:"):
        return "on the world's truth, overall" + line.removeprefix("Overall")
    return line.removeprefix("- ")


def brief_card(card: str) -> str:
    """The card's headline: a line per subject, each built from the card's own text."""
    out: list[str] = []
    for title, lines in _sections(card):
        if title == "## Validation metrics":
            line = _metrics_line(lines)
        elif title == "## Tier thresholds":
            line = _tiers_line(lines)
        elif title.startswith("## Quality gate"):
            line = title.removeprefix("## ").lower()
        elif title.startswith("## Top features"):
            line = _features_line(lines)
        else:
            out += [_kept(x) for x in lines if x.startswith(_KEPT_LINES)]
            continue
        if line:
            out.append(line)
    out.append(FOOTER)
    return "\n".join(out)
