"""A stored backtest as a person reads it: terminal text (``safeguard rollout backtest``), Markdown tables (the
Dagster UI and the model card) and a PNG of the per-day precision and recall of both models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from safeguard.rollout.backtest_store import StoredBacktest
from safeguard.vocabulary import ALERT_TIERS, MODEL_ROLES

METRICS = (
    ("precision", "precision"),
    ("recall", "recall"),
    ("auc_pr", "AUC-PR"),
    ("recall_at_champion_volume", "recall at the champion's alert volume"),
)


def _v(iv: Mapping[str, Any] | None, spec: str = ".3f") -> str:
    return "n/a" if not iv or iv.get("value") is None else format(iv["value"], spec)


def _ci(iv: Mapping[str, Any] | None, spec: str = ".3f") -> str:
    if not iv or iv.get("value") is None:
        return "n/a"
    if iv.get("low") is None:
        return format(iv["value"], spec)
    return f"{format(iv['value'], spec)} ({format(iv['low'], spec)} .. {format(iv['high'], spec)})"


def pooled_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, champion, candidate, candidate - champion) with 95% intervals, pooled over the judged days."""
    alerts, outcomes = summary.get("alerts"), summary.get("outcomes")
    if not alerts or not outcomes:
        return []
    rows = [
        (
            "alert rate (elevated+)",
            _ci(alerts["champion"]["alert_rate"], ".4f"),
            _ci(alerts["candidate"]["alert_rate"], ".4f"),
            _ci(alerts["alert_rate_difference"], "+.4f"),
        )
    ]
    for key, label in METRICS:
        rows.append(
            (
                label,
                _ci(outcomes["champion"][key]),
                _ci(outcomes["candidate"][key]),
                _ci(outcomes["difference"][key], "+.3f"),
            )
        )
    rows.append(("AUC-PR, relative change", "", "", _ci(outcomes["difference"]["auc_pr_relative"], "+.1%")))
    tiers = " / ".join(
        f"{name} {alerts['champion']['tiers'][name]}:{alerts['candidate']['tiers'][name]}" for name in ALERT_TIERS
    )
    rows.append(("alerts per tier (champion:candidate)", "", "", tiers))
    return rows


def _day_row(day: Mapping[str, Any]) -> list[str]:
    alerts, outcomes = day.get("alerts"), day.get("outcomes")
    cells = [day["day"], day["status"]]
    if alerts:
        flagged = [sum(n for t, n in alerts[m]["tiers"].items() if t != "low") for m in MODEL_ROLES]
        cells += [str(alerts["accounts"]), f"{flagged[0]}/{flagged[1]}"]
    else:
        cells += ["–", "–"]
    if outcomes:
        cells += [str(outcomes["positives"])]
        cells += [f"{_v(outcomes['champion'][k], '.2f')}/{_v(outcomes['candidate'][k], '.2f')}" for k, _ in METRICS]
    else:
        cells += ["–"] * (1 + len(METRICS))
    return cells


DAY_HEADER = ["day", "status", "accounts", "alerts ch/cd", "positives", "precision", "recall", "AUC-PR", "recall@vol"]


def header_line(b: StoredBacktest) -> str:
    return (
        f"backtest {b.backtest_id}: candidate {b.candidate_version} vs champion {b.champion_version} "
        f"({b.summary.get('champion_kind', 'lightgbm')}), {b.days} feature day(s) {b.first_day} .. {b.last_day}, "
        f"{b.judged_days} judged"
    )


def format_backtest(
    b: StoredBacktest, verdict: str | None = None, reasons: list[str] | None = None, *, per_day: bool = True
) -> str:
    """The per-day table (or, with ``per_day=False``, a line counting the days per status), the pooled summary
    with intervals and the verdict, for a terminal."""
    verdict = verdict or b.verdict
    reasons = reasons if reasons is not None else b.summary.get("reasons", [])
    lines = [header_line(b)]
    if per_day:
        rows = [DAY_HEADER, *(_day_row(d) for d in b.per_day)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(DAY_HEADER))]
        lines.append("  per day (champion/candidate; only 'judged' days are pooled):")
        lines += ["    " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    else:
        statuses: dict[str, int] = {}
        for d in b.per_day:
            statuses[d["status"]] = statuses.get(d["status"], 0) + 1
        counted = ", ".join(f"{n} {status}" for status, n in statuses.items())
        lines.append(f"  days: {counted} (only 'judged' days are pooled; the table per day: --per-day)")
    s = b.summary
    if s.get("outcomes"):
        o = s["outcomes"]
        lines.append(
            f"  pooled over {s['judged_days']} judged day(s) {s['judged_first_day']} .. {s['judged_last_day']}: "
            f"{o['labelled']} labelled account-days, {o['positives']} positives (95% intervals)"
        )
        pooled = [("metric", "champion", "candidate", "candidate - champion"), *pooled_rows(s)]
        pw = [max(len(r[i]) for r in pooled) for i in range(4)]
        lines += ["    " + "  ".join(c.ljust(w) for c, w in zip(r, pw)) for r in pooled]
    else:
        lines.append("  pooled: no judged day")
    lines.append(f"  verdict: {verdict}")
    lines += [f"    - {r}" for r in reasons]
    return "\n".join(lines)


def _md(rows: list[list[str]] | list[tuple[str, ...]]) -> str:
    head, *body = rows
    return "\n".join(
        ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in body)]
    )


def pooled_markdown(b: StoredBacktest) -> str:
    """The pooled table and the verdict as Markdown (the UI, the model card)."""
    s = b.summary
    parts = [header_line(b) + "."]
    if s.get("outcomes"):
        parts.append(
            f"Pooled over {s['judged_days']} judged day(s) {s['judged_first_day']} .. {s['judged_last_day']} "
            f"(out of the candidate's fit, labels matured), {s['outcomes']['positives']} labelled positives; "
            "95% intervals."
        )
        parts.append(_md([("metric", "champion", "candidate", "candidate - champion"), *pooled_rows(s)]))
    parts.append(f"**Verdict: {b.verdict}**")
    parts += [f"- {r}" for r in s.get("reasons", [])]
    return "\n\n".join(parts)


def per_day_markdown(b: StoredBacktest) -> str:
    return _md([DAY_HEADER, *(_day_row(d) for d in b.per_day)])


def per_day_png(b: StoredBacktest) -> bytes | None:
    """Per-day precision and recall of both models on the matured days (None when no day matured)."""
    days = [d for d in b.per_day if d.get("outcomes")]
    if not days:
        return None
    from safeguard.model_card import _figure_png, _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    x = list(range(len(days)))
    for ax, key in zip(axes, ("precision", "recall")):
        for model, colour in (("champion", "#4C72B0"), ("candidate", "#DD8452")):
            values = [d["outcomes"][model][key]["value"] for d in days]
            ax.plot(x, [v if v is not None else float("nan") for v in values], marker="o", color=colour, label=model)
        for i, d in enumerate(days):
            if d["status"] != "judged":
                ax.axvspan(i - 0.5, i + 0.5, color="#DDDDDD", zorder=0)
        ax.set_title(key.replace("_", " ") + " (grey: in the candidate's fit)")
        ax.set_xticks(x, [d["day"][5:] for d in days], rotation=60, fontsize=7)
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right", fontsize=8)
    return _figure_png(fig)
