"""Which examples teach the model what, given late and noisy enforcement labels (issue 14, design §3.2).

``label`` in ``marts.fct_training_examples`` is "a suspend or ban starts in (D, D+H] and is not reinstated within
it". Two kinds of example are ambiguous under that label, and the model learns differently depending on how they
are treated:

- a **warning** in (D, D+H] without a suspend or ban (``label_warned`` = 1, ``label`` = 0): an analyst saw
  something, but not enough to act; often an abuser caught early, sometimes a benign account near the line;
- a suspend or ban in (D, D+H] that was **reinstated** within it (``label_reinstated`` = 1, ``label`` = 0): a
  mistaken block, or an abuser who appealed successfully (a taken-over account returned to its owner).

Enforcement also **misses the rest of a group**: a ring is banned, a tenth of its members are not, and every
later day of theirs is written as a negative with the ring's strongest signals (a payment method or device shared
with banned accounts). Fitted as negatives, they teach the model that such links are benign, and it ranks the
survivors below ordinary accounts (measured: a ring's AUC-PR of 0.00 on robust-b). ``linked`` policies propagate
the enforcement over those same-owner links (:data:`LINKED_ENFORCEMENT_COLUMNS`, known as of D). Propagation is a
correction for the few a ban missed, so it checks its own size first (:meth:`LabelPolicy.linked_evidence`): where it
would add more positives than the labels already give, the link columns carry something other than a missed ring
member (shared public infrastructure, a catalog whose shares are not sparse), and it is skipped, with the reason.

And the label is **late**: enforcement often comes weeks after the abuse starts, so an account abusing on D may
be blocked after D + H, when its example was already written as a negative. ``late_blocked`` / ``late_warned``
(``marts.fct_training_late_evidence``, a view: a block that still holds, or a warning, in (D, D + 2H], as known
from every action loaded so far) say so.

A :class:`LabelPolicy` turns the examples into training targets and weights. Evaluation (validation metrics, the
gate, the card) always uses the plain ``label``, so policies are compared on the same footing; which policy
catches more *true* abuse is measured on synthetic worlds' truth in ``bench/bench_robustness.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from safeguard.examples import LABEL_COLUMN, LATE_COLUMNS, TrainingDataError

WARNED_COLUMN = "label_warned"
REINSTATED_COLUMN = "label_reinstated"
# 1 when the positive label came from a reviewer's confirmation in the review queue (safeguard.review.labels):
# part of ``label``, counted on the model card; examples built before reviews existed have no such column.
REVIEW_COLUMN = "label_review"
# Same-owner links: the share of the accounts sharing this account's payment method, or its device, that are
# suspended or banned as of D (features of the catalog, point-in-time like every feature). A payment method or a
# device is an owner's, not a network's: an account that shares one with a blocked account is, to an enforcement
# team, the blocked owner's other account (a ring member the ban missed, a ban evader).
LINKED_ENFORCEMENT_COLUMNS = ("linked_payment_enforced_share", "linked_device_enforced_share")


@dataclass(frozen=True)
class LabelPolicy:
    """How the ambiguous examples enter training: as negatives (weight 1), left out (weight 0), or as
    positives with a reduced weight."""

    name: str
    description: str
    warned: str  # "negative" | "exclude" | "soft_positive"
    reinstated: str  # "negative" | "exclude"
    soft_weight: float = 0.5
    late: bool = False  # late evidence (a block or warning up to 2H after D) makes an example a positive
    linked: bool = False  # a payment method or device shared with an account blocked as of D makes it a positive
    # linked propagation adds at most this many positives per positive the policy gives without it, or is skipped
    max_linked_ratio: float = 1.0

    def targets(self, examples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(target 0/1, weight multiplier) per example, for fitting and early stopping only."""
        y = examples[LABEL_COLUMN].to_numpy(dtype=np.float64).copy()
        weight = np.ones(len(examples))
        warned = _positive(examples, WARNED_COLUMN) & (y == 0)
        reinstated = _positive(examples, REINSTATED_COLUMN) & (y == 0)
        if self.reinstated == "exclude":
            weight[reinstated] = 0.0
        if self.warned == "exclude":
            weight[warned & ~reinstated] = 0.0
        elif self.warned == "soft_positive":
            soft = warned & ~reinstated
            y[soft] = 1.0
            weight[soft] = self.soft_weight
        if self.late:
            late = np.logical_or.reduce([_positive(examples, c) for c in LATE_COLUMNS])
            y[late] = 1.0
            weight[late] = 1.0
        if self.linked:
            evidence = self.linked_evidence(examples, base=(y, weight))
            if evidence.applied:
                y[evidence.mask] = 1.0
                weight[evidence.mask] = 1.0
        return y, weight

    def linked_evidence(self, examples: pd.DataFrame, *, base: tuple[np.ndarray, np.ndarray] | None = None):
        """Whether propagating enforcement over same-owner links is applied to these examples, and why.

        On every synthetic world measured the examples it adds are 1-6% of the positives the labels give (a ring's
        few survivors); adding more than ``max_linked_ratio`` times those positives means the columns are not
        that, and the policy stays its base (``late`` and the rest)."""
        if not self.linked:
            return LinkedEvidence(False, 0, 0, np.zeros(len(examples), dtype=bool), "the policy does not propagate")
        if base is None:
            base = replace(self, linked=False).targets(examples)
        y, weight = base
        present = [c for c in LINKED_ENFORCEMENT_COLUMNS if c in examples.columns]
        linked = np.logical_or.reduce([_positive(examples, c) for c in LINKED_ENFORCEMENT_COLUMNS])
        mask = linked & ~((y == 1) & (weight > 0))
        added, positives = int(mask.sum()), int(((y == 1) & (weight > 0)).sum())
        if not present:
            return LinkedEvidence(False, 0, positives, mask, "the examples carry no same-owner link columns")
        if added > self.max_linked_ratio * positives:
            return LinkedEvidence(
                False,
                added,
                positives,
                mask,
                f"skipped: links to enforced accounts would add {added} positives to {positives} (more than "
                f"{self.max_linked_ratio:g}x); a ban's missed ring members are a few, so "
                f"{', '.join(present)} carry something else here",
            )
        return LinkedEvidence(True, added, positives, mask, f"applied: {added} positives added to {positives}")

    def to_dict(self) -> dict:
        return asdict(self)  # every field, so a new one is never left out of the stored params


@dataclass(frozen=True)
class LinkedEvidence:
    """The size check of a ``linked`` policy on one set of examples (recorded in the model's metrics and card)."""

    applied: bool
    added: int  # examples propagation makes positive (or would have, when skipped)
    positives: int  # positives the policy gives without it
    mask: np.ndarray
    note: str

    def to_metrics(self) -> dict:
        return {"applied": self.applied, "added": self.added, "positives": self.positives, "note": self.note}


def _positive(examples: pd.DataFrame, column: str) -> np.ndarray:
    """True where the column is above 0 (a 0/1 flag, or a share); all False when the examples do not carry it
    (older warehouses, a catalog without the column)."""
    if column not in examples.columns:
        return np.zeros(len(examples), dtype=bool)
    return examples[column].fillna(0).to_numpy(dtype=np.float64) > 0


LABEL_POLICIES = {
    p.name: p
    for p in (
        LabelPolicy(
            "enforced", "suspend/ban not reinstated = positive; everything else negative", "negative", "negative"
        ),
        LabelPolicy(
            "exclude_ambiguous",
            "as 'enforced', but warned-only and reinstated examples are left out "
            "of fitting (neither positive nor negative)",
            "exclude",
            "exclude",
        ),
        LabelPolicy(
            "warned_soft_positive",
            "as 'enforced', but a warning counts as a positive at half weight; reinstated examples are left out",
            "soft_positive",
            "exclude",
        ),
        LabelPolicy(
            "late_evidence",
            "as 'enforced', and an example is also positive when a block that still "
            "holds or a warning came up to twice the label horizon after D, as known now",
            "negative",
            "negative",
            late=True,
        ),
        LabelPolicy(
            "late_linked",
            "as 'late_evidence', and an example is also positive when its account shares a "
            "payment method or device with an account suspended or banned as of D (enforcement propagated "
            "over same-owner links)",
            "negative",
            "negative",
            late=True,
            linked=True,
        ),
    )
}
# Chosen on the truth of synthetic worlds (bench/REPORT.md, *Detection on unseen worlds*): late_evidence gave the
# best mean AUC-PR of the first four policies (0.52 against 0.47, 0.45 and 0.39); late_linked beat it on every world
# measured since (four development worlds and three unseen seeds: +0.06 to +0.14 AUC-PR; rings 0.00 -> 0.97). Where
# the link columns are not a sparse sign of a missed owner (the tests' synthetic examples, whose shares are noise and
# above 0 on 87% of rows: propagated, they cut AUC-PR 0.30 -> 0.19), its size check leaves it at late_evidence.
DEFAULT_LABEL_POLICY = "late_linked"


def label_policy(name: str) -> LabelPolicy:
    try:
        return LABEL_POLICIES[name]
    except KeyError:
        raise TrainingDataError(f"unknown label policy {name!r}; known: {', '.join(LABEL_POLICIES)}") from None
