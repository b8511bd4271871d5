"""Pure router logic: matching, scoring, assignment, business-hours arithmetic. No I/O."""
