"""``safeguard model``: list the registered models, and print a model's card in the terminal (issue 20)."""

from __future__ import annotations

import argparse
import sys

from safeguard.card_digest import brief_card
from safeguard.config import settings


def add_model(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "model",
        help="the registered models: list them, print a model card",
        description=(
            "The model registry (model_versions in the serving database). `show` prints a model's card: its "
            "training window, metrics next to the rules baseline and the champion, tier thresholds with their "
            "target and observed precision, top features and, on a synthetic world, detection per archetype. "
            "The same card is the Markdown file next to the model's artifact."
        ),
    )
    parser.add_argument("--db", default=None, help="serving database URL (default: SERVING_DB_URL)")
    actions = parser.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print a model's card (default: the champion's)")
    show.add_argument("version", nargs="?", default=None, help="a registered version (default: the champion)")
    show.add_argument(
        "--brief",
        action="store_true",
        help="the card's headline only: served training window, metrics against the rules, tier thresholds, gate, "
        "top features and detection per archetype in one line each",
    )
    actions.add_parser("list", help="every registered version: status, kind, created, AUC-PR")
    parser.set_defaults(func=cmd_model)


def cmd_model(args: argparse.Namespace) -> int:
    from safeguard.registry import RegistryError
    from safeguard.stores import configured_model_store, open_serving_stores

    s = settings()
    with open_serving_stores(args.db or s.serving_db_url, model_store=configured_model_store()) as stores:
        registry = stores.registry
        try:
            if args.model_command == "list":
                rows = registry.versions()
                if not rows:
                    print("safeguard model: no model registered yet (materialize risk_model)", file=sys.stderr)
                    return 1
                for row in rows:
                    auc_pr = row.metrics.get("auc_pr")
                    figure = f"AUC-PR {auc_pr:.3f}" if isinstance(auc_pr, (int, float)) else "AUC-PR –"
                    print(f"{row.version}  {row.status:9s}  {row.kind:8s}  {row.created_at:%Y-%m-%d %H:%M}  {figure}")
                return 0
            version = args.version
            if version is None:
                champion = registry.champion()
                if champion is None:
                    print("safeguard model show: no champion yet (materialize risk_model)", file=sys.stderr)
                    return 1
                version = champion.version
            row = registry.get(version)
            card = registry.card(version)
            if card is None:
                print(
                    f"safeguard model show: {version} has no stored card (registered before cards were kept); "
                    "its metrics are in model_versions and the risk_model asset's metadata",
                    file=sys.stderr,
                )
                return 1
            print(f"# {version} ({row.status}, {row.kind})\n\n{brief_card(card) if args.brief else card}")
            return 0
        except RegistryError as e:
            print(f"safeguard model {args.model_command}: {e}", file=sys.stderr)
            return 1
