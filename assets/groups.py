"""The asset groups of the graph, as the UI shows them and selections name them: one name each, written once."""

INGESTION = "ingestion"  # landing zone -> raw tables, quarantine, reviewer labels
FEATURES = "features"  # the dbt project: staging, intermediate, marts
MODELING = "modeling"  # training, the quality gate, the registry, the offline backtest
SCORING = "scoring"  # scores and reasons of the day's models
ROLLOUT = "rollout"  # the staged rollout's decision and the served scores
PUBLISHING = "publishing"  # the risk tables and the review queue downstream teams read
