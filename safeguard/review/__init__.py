"""From scores to action (issue 17): the daily review queue and the reviewers' decisions."""
