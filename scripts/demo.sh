#!/usr/bin/env bash
# `make demo`: a synthetic world, the whole graph, a retrained model rolled out in stages, the risk tables.
# Runs the same commands an operator would; every run is recorded in the Dagster instance under DAGSTER_HOME.
set -euo pipefail
ACCOUNTS="${DEMO_ACCOUNTS:-5000}" DAYS="${DEMO_DAYS:-70}" START="${DEMO_START:-2026-09-01}" SEED="${DEMO_SEED:-7}"
BIN="${BIN:-.venv/bin}"
day() { date -u -d "$START + $1 days" +%F; }  # day N of the world, 0-based
# The first model learns from a short history; the retrain from two more weeks of matured labels, so it has
# something to show in a rollout. The rollout then runs 15 days: an outcome guardrail needs the candidate's scores of
# a day whose 14-day label window has closed, so shadow can be judged on precision and recall from its 15th day.
FIRST_SERVE=$((DAYS - 30)) RETRAIN_END=$((DAYS - 16))
step() { printf '\n== %s\n' "$*"; }

# The demo owns its data folder: it starts from nothing, and never touches a folder it did not make.
HOME_DIR="${SAFEGUARD_HOME:?SAFEGUARD_HOME must be set (make demo sets it)}"
if [ -d "$HOME_DIR" ] && [ -n "$(ls -A "$HOME_DIR" 2>/dev/null | grep -v '^dagster_home$')" ] && [ ! -f "$HOME_DIR/.made-by-demo" ]; then
  echo "make demo: $HOME_DIR holds data that make demo did not write; point SAFEGUARD_HOME at an empty folder" >&2
  exit 2
fi
rm -rf "${HOME_DIR:?}"/{landing,ground_truth,models,exports,warehouse.duckdb,serving.db}
mkdir -p "$HOME_DIR" && touch "$HOME_DIR/.made-by-demo"

step "1/7 generate a world of $ACCOUNTS accounts over $DAYS days into the landing zone"
"$BIN/safeguard" generate --accounts "$ACCOUNTS" --days "$DAYS" --start "$START" --seed "$SEED"

step "2/7 days $(day 0) .. $(day $((FIRST_SERVE - 1))): ingest, build features, train the first model (champion), score, publish"
"$BIN/safeguard" run --start "$START" --end "$(day $((FIRST_SERVE - 1)))"
echo "-- the champion's model card, its headline (all of it: safeguard model show; the Markdown is next to the artifact in models/):"
"$BIN/safeguard" model show --brief

step "3/7 days $(day $FIRST_SERVE) .. $(day $RETRAIN_END) land; retrain on the longer history: the new model is a candidate"
"$BIN/safeguard" run --start "$(day $FIRST_SERVE)" --end "$(day $RETRAIN_END)" --retrain

step "4/7 backtest the candidate offline: replayed over the last 28 feature days next to the champion's published scores"
# Judged on the labels matured by now, only on days out of the candidate's fit; `rollout start` requires a pass.
if ! "$BIN/safeguard" rollout backtest --days 28; then
  echo "no backtest: there is no candidate (the retrained model did not pass the quality gate)"
fi

step "5/7 start a staged rollout of the candidate (shadow first), refused unless its backtest passed"
# The gate may reject the retrained model (not better than the champion on the same rows), or its backtest may not
# pass: then nothing rolls out, the champion keeps serving, and the demo says so instead of stopping.
# The demo's plan widens one margin: recall may fall by up to 0.25 (the production default is 0.10). The world's
# 5,000 accounts give about 150 labelled positives in two weeks, and the always-valid interval of a recall
# difference at that size is about +-0.17: a 0.10 margin could never be settled here, a 0.25 one is after about
# twelve days of shadow. Every other guardrail keeps its default, and the plan is stored with the rollout.
PLAN="$HOME_DIR/demo_rollout_plan.json"
echo '{"guardrails": {"max_recall_drop": 0.25}}' > "$PLAN"
echo "demo plan: max_recall_drop 0.25 (default 0.10; a 5,000-account world cannot settle a 0.10 margin in two weeks)"
# `rollout start` prints the whole status; step 7 prints it again after the days ran, so here only its first lines.
if started=$("$BIN/safeguard" rollout start --actor demo --plan "$PLAN" --min-days 1 --min-arm-accounts 40); then
  printf '%s\n' "$started" | grep -E '^rollout |^  stage: ' || true
  echo "  (the whole status: safeguard rollout status)"
else
  echo "no rollout: no candidate, or its backtest did not pass (above); the champion keeps serving"
fi

step "6/7 the remaining days one run each, as the daily schedule runs them: the rollout advances only on judged evidence"
# Each day pools the stage's evidence; a stage advances when an outcome guardrail (precision or recall on matured
# labels) and every comparison guardrail passed, and holds, saying what it waits for, until then. On this world
# shadow holds while the recall interval is wider than the margin, then advances to 1%, which then holds in turn:
# its own evidence starts again from nothing.
"$BIN/safeguard" run --start "$(day $((RETRAIN_END + 1)))" --end "$(day $((DAYS - 1)))" --one-run-per-day

step "7/7 what operators and downstream teams see"
"$BIN/safeguard" rollout status
"$BIN/safeguard" risk top --limit 3
top_account=$("$BIN/python" -c "
from safeguard.config import settings
from safeguard.serving.db import engine_for
from safeguard.serving.reader import RiskReader
print(RiskReader(engine_for(settings().serving_db_url)).top(limit=1)[0].account_id)")
"$BIN/safeguard" risk show "$top_account"
# The analysts' view of the last day: at most REVIEW_CAPACITY cases, linked accounts as one case (the first, its 3 riskiest members).
"$BIN/safeguard" review queue --date "$(day $((DAYS - 1)))" --limit 1 --members 3 || true  # a day without cases exits 1

"$BIN/python" bench/report.py --headline

cat <<TXT

Where to look:
  data:        ${SAFEGUARD_HOME}  (landing/, warehouse.duckdb, serving.db, models/, exports/, ground_truth/)
  risk tables: sqlite:///${SAFEGUARD_HOME}/serving.db  (account_risk_current, account_risk_history, risk_reasons, review_queue)
  Dagster UI:  make ui, then http://127.0.0.1:3000  (runs, asset metadata, model card, plots; DAGSTER_HOME=${DAGSTER_HOME})
TXT
