"""Scoring tools around the router's pure scoring: datasets (CSV files and the router's own
history), evaluation, fitting, offline scoring, and the ``leadflow scoring`` commands."""
