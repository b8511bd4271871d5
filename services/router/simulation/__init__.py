"""Routing simulation: replay stored history through candidate teams, reps, rules and scoring."""
