"""The model card's terminal digest (safeguard/card_digest.py): built from the card's own text, a line per subject."""

from __future__ import annotations

from safeguard.card_digest import FOOTER, brief_card

CARD = """# Risk model risk-1

Created 2026-12-07T13:55:19+00:00 · 281 trees · calibration: platt · label horizon 14 days

## Data

- label: suspend or ban within 14 days after D
- validation (out of time, after a 14-day gap): 2026-09-16 .. 2026-09-20 (6843 rows, 38 positives)
- served model: refitted on every matured day before validation, 2026-09-01 .. 2026-09-15 (19866 rows, 281 trees)

## Validation metrics

| metric | model | rules baseline | champion risk-0 |
|---|---|---|---|
| AUC-ROC | 0.9002 | 0.7744 | 0.9716 |
| AUC-PR | 0.2125 | 0.0206 | 0.3047 |
| Recall at 1% FPR | 0.4211 | 0.0000 | 0.7632 |
| Brier score | 0.0059 | – | 0.0047 |

## Tier thresholds

| tier | threshold (probability ≥) | target precision | validation precision | validation accounts | method |
|---|---|---|---|---|---|
| elevated | 0.0464 | 0.3000 | 0.3152 | 92 | validation |
| critical | 0.8500 | 0.8500 | – | 0 | fallback_target_probability |

## Quality gate: failed

| name | value | threshold | comparison | passed |
|---|---|---|---|---|
| auc_pr | 0.2125 | 0.3000 | >= | False |

## Top features by gain

| feature | gain | splits | gain_share | reason |
|---|---|---|---|---|
| f1 | 9.0 | 3 | 0.5 | r1 |
| f2 | 6.0 | 2 | 0.3 | r2 |

## Detection quality per archetype: model vs rules

Overall: AUC-PR 0.305 (model) vs 0.021 (rules).
"""


def test_the_digest_keeps_a_line_per_subject_with_the_cards_own_figures():
    assert brief_card(CARD).splitlines() == [
        "Created 2026-12-07T13:55:19+00:00 · 281 trees · calibration: platt · label horizon 14 days",
        "validation window: 2026-09-16 .. 2026-09-20 (6843 rows, 38 positives)",
        "served model: refitted on every matured day before validation, 2026-09-01 .. 2026-09-15 (19866 rows, 281 trees)",
        "validation (model / rules baseline / champion risk-0): AUC-PR 0.2125 / 0.0206 / 0.3047 · "
        "AUC-ROC 0.9002 / 0.7744 / 0.9716 · recall at 1% FPR 0.4211 / 0.0000 / 0.7632",
        "tiers: elevated >= 0.0464 (precision 0.3152 for a target of 0.3000, 92 accounts) · "
        "critical >= 0.8500 (precision – for a target of 0.8500, 0 accounts)",
        "quality gate: failed",
        "top features (share of gain): f1 50% · f2 30%",
        "on the world's truth, overall: AUC-PR 0.305 (model) vs 0.021 (rules).",
        FOOTER,
    ]


def test_a_card_without_tables_still_gives_its_prose_and_the_footer():
    assert brief_card("# Risk model r\n\nCreated today\n\n## Quality gate: passed\n") == (
        f"Created today\nquality gate: passed\n{FOOTER}"
    )


def test_a_metrics_table_with_the_model_only_has_no_empty_column_names():
    card = "## Validation metrics\n\n| metric | model |\n|---|---|\n| AUC-PR | 0.3003 |\n| AUC-ROC | 0.8968 |\n"
    assert brief_card(card).splitlines()[0] == "validation: AUC-PR 0.3003 · AUC-ROC 0.8968"
